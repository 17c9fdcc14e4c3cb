"""Events in PostgreSQL: stored once per namespace, source and id before anyone is told (a
redelivery finds the first), announced on channel ``ferris_events``, routed by the operator
(``routed`` records what it did, once), listed newest first, and removed after retention.

The end of every run is an event too: ``run_ended`` writes it in the transaction that makes the
run terminal, so no run ends without one and none has two."""

from __future__ import annotations

import datetime
from typing import Any, LiteralString

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from ferris_operator import model
from ferris_operator.records import Event, EventRecord
from ferris_operator.store.announcer import Announce

CHANNEL: LiteralString = "ferris_events"
MAX_PAGE = 200

_COLUMNS: LiteralString = (
    "seq, id, type, source, namespace, subject, data, depth, also_type, sent_by, received_at, routed_at, outcome"
)


def _record(row: tuple[Any, ...]) -> EventRecord:
    seq, *attributes, sent_by, received_at, routed_at, outcome = row
    return EventRecord(seq, Event(*attributes), sent_by, received_at, routed_at, outcome)


def insert(conn: psycopg.Connection[Any], event: Event, sent_by: str, notify: bool = True) -> tuple[int, bool]:
    """Store ``event`` in the caller's transaction unless its namespace, source and id are
    stored already; (its seq, whether it was a duplicate). ``notify``: the operator hears of it
    when the transaction commits (else the caller announces it after its commit)."""
    row = conn.execute(
        "INSERT INTO events (namespace, id, source, type, also_type, subject, data, depth, sent_by)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (namespace, source, id) DO NOTHING RETURNING seq",
        (
            event.namespace,
            event.id,
            event.source,
            event.type,
            event.also_type,
            event.subject,
            Jsonb(event.data),
            event.depth,
            sent_by,
        ),
    ).fetchone()
    if row is not None:
        if notify:
            conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(row[0])))
        return int(row[0]), False
    found = conn.execute(
        "SELECT seq FROM events WHERE namespace = %s AND source = %s AND id = %s",
        (event.namespace, event.source, event.id),
    ).fetchone()
    assert found is not None  # the conflict was with this row
    return int(found[0]), True


def run_ended(conn: psycopg.Connection[Any], row: tuple[Any, ...]) -> None:
    """The event of a run's end, from (uid, namespace, name, package_name, package_uid, phase,
    reason, depth, outputs) of the run just made terminal. Its id is the run's uid: one per run.
    The outputs its scripts set go with it (``outputs``), so the run it starts gets them as params."""
    uid, namespace, name, package_name, package_uid, phase, reason, depth, outputs = row
    # Not package_name, package_id, run_id: sys.argv[1] of the run it starts holds those of
    # that run's own package and run, over its params.
    data = {
        "finished_package": package_name,
        "finished_package_id": package_uid,
        "finished_run": name,
        "finished_run_id": uid,
        "phase": phase,
        "reason": reason,
        "outputs": outputs or {},
    }
    source = model.run_event_source(namespace, name)
    event = Event(uid, model.RUN_ENDED_TYPE, source, namespace, package_name, data, depth, model.RUN_ENDED_CE_TYPE)
    insert(conn, event, f"run/{uid}")


class EventStore:
    def __init__(self, pool: ConnectionPool, announce: Announce | None = None) -> None:
        """``announce``: how a stored event is announced after its commit (the server's
        coalescing announcer); unset: a notification in its own transaction."""
        self._pool = pool
        self._announce = announce

    def _announced(self, stored: tuple[int, bool]) -> tuple[int, bool]:
        if self._announce is not None and not stored[1]:
            self._announce(CHANNEL, str(stored[0]))
        return stored

    def put(self, event: Event, sent_by: str) -> tuple[int, bool]:
        """Store an event (once); (its seq, whether it was stored before)."""
        with self._pool.connection() as conn, conn.transaction():
            stored = insert(conn, event, sent_by, notify=self._announce is None)
        return self._announced(stored)

    def put_once_per_body(self, event: Event, sent_by: str) -> tuple[int, bool]:
        """A webhook's plain JSON event: stored unless its source sent the same data before. Its
        type and id come from headers the signature does not cover, so a replay with other
        headers must still be the same event. (seq, whether it was a duplicate)"""
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{event.namespace} {event.source}",))
            found = conn.execute(
                "SELECT seq FROM events WHERE namespace = %s AND source = %s AND data = %s ORDER BY seq LIMIT 1",
                (event.namespace, event.source, Jsonb(event.data)),
            ).fetchone()
            if found is not None:
                return int(found[0]), True
            stored = insert(conn, event, sent_by, notify=self._announce is None)
        return self._announced(stored)

    def get(self, namespace: str, seq: int) -> EventRecord | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM events WHERE namespace = %s AND seq = %s",  # noqa: S608
                (namespace, seq),
            ).fetchone()
        return _record(row) if row else None

    def page(self, namespace: str, before: int | None, limit: int) -> tuple[list[EventRecord], int | None]:
        """Up to ``limit`` events of the namespace, newest first (index events_page), and where
        the next page starts (None: no more)."""
        limit = max(1, min(limit, MAX_PAGE))
        with self._pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM events WHERE namespace = %s AND (%s::bigint IS NULL OR seq < %s)"  # noqa: S608
                " ORDER BY seq DESC LIMIT %s",
                (namespace, before, before, limit + 1),
            ).fetchall()
        records = [_record(row) for row in rows[:limit]]
        return records, (records[-1].seq if len(rows) > limit else None)

    def unrouted(self, limit: int = 100, after: int = 0) -> list[EventRecord]:
        """The oldest events not routed yet after ``seq`` ``after`` (index events_unrouted)."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM events WHERE routed_at IS NULL AND seq > %s ORDER BY seq LIMIT %s",  # noqa: S608
                (after, limit),
            ).fetchall()
        return [_record(row) for row in rows]

    def routed(self, seq: int, outcome: dict[str, Any], counts: dict[str, tuple[int, int]]) -> bool:
        """Record what routing did with the event and count it for each trigger it matched
        (trigger uid -> (runs made, runs refused)), once: False when it was routed already."""
        with self._pool.connection() as conn, conn.transaction():
            done = conn.execute(
                "UPDATE events SET routed_at = now(), outcome = %s WHERE seq = %s AND routed_at IS NULL RETURNING seq",
                (Jsonb(outcome), seq),
            ).fetchone()
            if done is None:
                return False
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO trigger_counts (trigger_uid, events, runs, refused, last_seq)"
                    " VALUES (%s, 1, %s, %s, %s) ON CONFLICT (trigger_uid) DO UPDATE SET"
                    " events = trigger_counts.events + 1, runs = trigger_counts.runs + EXCLUDED.runs,"
                    " refused = trigger_counts.refused + EXCLUDED.refused,"
                    " last_seq = greatest(trigger_counts.last_seq, EXCLUDED.last_seq)",
                    [(uid, made, refused, seq) for uid, (made, refused) in counts.items()],
                )
        return True

    def counts(self, trigger_uid: str) -> tuple[int, int, int, EventRecord | None]:
        """(events matched, runs made, runs refused, the last event) of one trigger."""
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT events, runs, refused, last_seq FROM trigger_counts WHERE trigger_uid = %s", (trigger_uid,)
            ).fetchone()
            if row is None:
                return 0, 0, 0, None
            last = conn.execute(
                f"SELECT {_COLUMNS} FROM events WHERE seq = %s",  # noqa: S608
                (row[3],),
            ).fetchone()
        return int(row[0]), int(row[1]), int(row[2]), _record(last) if last else None

    def sent_by_count(self, sent_by: str) -> int:
        with self._pool.connection() as conn:
            row = conn.execute("SELECT count(*) FROM events WHERE sent_by = %s", (sent_by,)).fetchone()
        return int(row[0]) if row else 0

    def expire(self, older_than: datetime.datetime) -> int:
        """Remove routed events received before ``older_than``; how many went."""
        with self._pool.connection() as conn:
            cursor = conn.execute("DELETE FROM events WHERE received_at < %s AND routed_at IS NOT NULL", (older_than,))
            return cursor.rowcount
