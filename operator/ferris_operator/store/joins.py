"""``JoinStore`` (``JoinStorePort``): the events a FerrisTrigger's ``spec.join`` waits on, kept in
PostgreSQL so that a join completes once, whatever restarts and redeliveries happen.

One row per event and part (``join_parts``, migration 20). For each trigger, joining value and
part only the first open event counts (a second one of that part is not kept); an event offered
again (its routing repeated after a crash) changes nothing. Open parts older than the window,
counted back from the event that arrives, no longer count. The parts of a completed join are
marked, not deleted, so an event routed again after its join completed opens nothing again.
Offers of one trigger and value take turns (an advisory lock): two of its events routed at once
see each other."""

from __future__ import annotations

import datetime
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from ferris_operator.records import JoinPart

MAX_WITHIN = datetime.timedelta(days=30)  # match.MAX_WITHIN: the longest a part can wait


class JoinStore:
    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def offer(
        self,
        trigger_uid: str,
        correlation: str,
        part: str,
        seq: int,
        data: dict[str, Any],
        at: datetime.datetime,
        within: datetime.timedelta,
    ) -> dict[str, JoinPart]:
        """Keep the event as the join's ``part``; the join's open parts now, by part."""
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"join {trigger_uid} {correlation}",))
            conn.execute(
                "DELETE FROM join_parts WHERE trigger_uid = %s AND correlation = %s AND completed_at IS NULL"
                " AND at < %s",
                (trigger_uid, correlation, at - within),
            )
            conn.execute(
                "INSERT INTO join_parts (trigger_uid, correlation, part, event_seq, data, at)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (trigger_uid, correlation, part, seq, Jsonb(data), at),
            )
            rows = conn.execute(
                "SELECT part, event_seq, data FROM join_parts"
                " WHERE trigger_uid = %s AND correlation = %s AND completed_at IS NULL",
                (trigger_uid, correlation),
            ).fetchall()
        return {name: JoinPart(int(event_seq), dict(data)) for name, event_seq, data in rows}

    def complete(self, trigger_uid: str, correlation: str, seqs: list[int]) -> None:
        """The join of these events made its runs: its parts no longer wait."""
        with self._pool.connection() as conn:
            conn.execute(
                "UPDATE join_parts SET completed_at = now()"
                " WHERE trigger_uid = %s AND correlation = %s AND event_seq = ANY(%s) AND completed_at IS NULL",
                (trigger_uid, correlation, seqs),
            )

    def expire(self, older_than: datetime.datetime) -> int:
        """Completed parts received before ``older_than``, and open ones older than any window."""
        with self._pool.connection() as conn:
            cursor = conn.execute(
                "DELETE FROM join_parts WHERE (completed_at IS NOT NULL AND at < %s) OR at < %s",
                (older_than, datetime.datetime.now(datetime.UTC) - MAX_WITHIN),
            )
            return cursor.rowcount
