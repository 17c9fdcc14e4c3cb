"""Run history as the server reads it: pages of a namespace's runs, newest first, from a keyset
cursor (no COUNT, no OFFSET: a page costs the same on the first day and after a million runs),
one run with its steps, one step's full output, and an overview of what is going on."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any, LiteralString

from psycopg_pool import ConnectionPool

from ferris_operator.records import Cursor, Overview, RunFilter, RunRecord, StepRecord, StepSummary
from ferris_operator.store.runs import RUN_COLUMNS, newest_named


class HistoryStore:
    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def page(self, where: RunFilter, after: Cursor | None, limit: int) -> tuple[list[RunRecord], Cursor | None]:
        """Up to ``limit`` runs, newest first (or oldest first), and the cursor of the next page
        (None: no more)."""
        optional: list[tuple[LiteralString, Any]] = [
            ("package_name = %s", where.package),
            ("phase = %s", where.phase),
            ("trigger = %s", where.trigger),
            ("created_at >= %s", where.since),
            ("created_at < %s", where.until),
        ]
        clauses: list[LiteralString] = ["namespace = %s"]
        values: list[Any] = [where.namespace]
        for clause, value in optional:
            if value is not None:
                clauses.append(clause)
                values.append(value)
        if after is not None:
            clauses.append("(created_at, uid) > (%s, %s)" if where.oldest_first else "(created_at, uid) < (%s, %s)")
            values.extend([after.created_at, after.uid])
        # Either way the same index (runs_page and its kin), read forwards or backwards.
        order: LiteralString = "created_at, uid" if where.oldest_first else "created_at DESC, uid DESC"
        query: LiteralString = (
            "SELECT "  # noqa: S608 - literal strings only; values are parameters
            + RUN_COLUMNS
            + " FROM runs WHERE "
            + " AND ".join(clauses)
            + " ORDER BY "
            + order
            + " LIMIT %s"
        )
        with self._pool.connection() as conn:
            rows = conn.execute(query, (*values, limit + 1)).fetchall()
        runs = [RunRecord(*row) for row in rows[:limit]]
        more = len(rows) > limit
        return runs, (Cursor(runs[-1].created_at, runs[-1].uid, where.oldest_first) if more and runs else None)

    def find(self, namespace: str, name: str) -> RunRecord | None:
        """The newest run of that name in the namespace (a name can be used again)."""
        with self._pool.connection() as conn:
            return newest_named(conn, namespace, name)

    def overview(self, namespaces: Sequence[str], since: datetime.datetime, most: int) -> Overview:
        """Active runs come from the index of active runs, ended ones from the index by end time:
        neither reads history older than ``since``."""
        counts: dict[str, dict[str, int]] = {}
        names = list(namespaces)
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT namespace, phase, count(*) FROM runs WHERE namespace = ANY(%s)"
                " AND (phase NOT IN ('Succeeded', 'Failed', 'Cancelled') OR finished_at >= %s)"
                " GROUP BY namespace, phase",
                (names, since),
            ).fetchall()
            for namespace, phase, count in rows:
                counts.setdefault(namespace, {})[phase] = count
            active = conn.execute(
                "SELECT "  # noqa: S608 - literal strings only; values are parameters
                + RUN_COLUMNS
                + " FROM runs WHERE namespace = ANY(%s) AND phase NOT IN ('Succeeded', 'Failed', 'Cancelled')"
                " ORDER BY created_at DESC LIMIT %s",
                (names, most),
            ).fetchall()
            failed = conn.execute(
                "SELECT "  # noqa: S608 - literal strings only; values are parameters
                + RUN_COLUMNS
                + " FROM runs WHERE namespace = ANY(%s) AND phase = 'Failed' AND finished_at >= %s"
                " ORDER BY finished_at DESC LIMIT %s",
                (names, since, most),
            ).fetchall()
        return Overview(counts, [RunRecord(*row) for row in active], [RunRecord(*row) for row in failed])

    def outputs(self, uid: str) -> dict[str, Any]:
        with self._pool.connection() as conn:
            row = conn.execute("SELECT outputs FROM runs WHERE uid = %s", (uid,)).fetchone()
        return dict(row[0] or {}) if row else {}

    def steps(self, uid: str) -> list[StepSummary]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT idx, name, phase, exit_code, started_at, finished_at, octet_length(output)"
                " FROM steps WHERE run_uid = %s ORDER BY idx",
                (uid,),
            ).fetchall()
        return [
            StepSummary(StepRecord(idx, name, phase, code, start, end, ""), size)
            for idx, name, phase, code, start, end, size in rows
        ]

    def output(self, uid: str, idx: int, start: int = 0) -> StepRecord | None:
        """The step with its output from character ``start`` on (a follower reads only what is
        new, not up to 4 MiB again every second): while the step runs, from the chunks that went
        live (only those that reach past ``start``); once it reported its end, from its output."""
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT idx, name, phase, exit_code, started_at, finished_at,"
                " CASE WHEN live_chars > 0 THEN NULL ELSE substr(output, %s) END, live_chars"
                " FROM steps WHERE run_uid = %s AND idx = %s",
                (start + 1, uid, idx),
            ).fetchone()
            if row is None:
                return None
            step_idx, name, phase, code, started, finished, text, live = row
            if live:
                chunks = conn.execute(
                    "SELECT start, text FROM step_chunks WHERE run_uid = %s AND idx = %s"
                    " AND start + char_length(text) > %s ORDER BY start",
                    (uid, idx, start),
                ).fetchall()
                text = "".join(chunk for _, chunk in chunks)[start - chunks[0][0] :] if chunks else ""
        return StepRecord(step_idx, name, phase, code, started, finished, text)
