"""What runners report, stored by the server's runner API and announced to the operator.

Each report is one transaction: the step (or the runner's verdict) is stored and the run's
``report_seq`` goes up, and the run's uid is announced on channel ``ferris_run_reports``: by the
server's announcer once the transaction has committed (store/announcer.py: what gathered in a
few milliseconds goes as one notification, so concurrent reports do not queue on a notifying
commit), or without one by a ``pg_notify`` in the transaction itself. Either way the operator
never hears of a report it cannot read yet; a notification nobody heard is found again by
``report_seq``."""

from __future__ import annotations

import datetime
import json
import uuid
from typing import Any, LiteralString

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from ferris_operator import model
from ferris_operator.problems import ChunkRefused, OutputRefused, ReportBudgetSpent, RetryLimit
from ferris_operator.records import RunRecord
from ferris_operator.store.announcer import Announce
from ferris_operator.store.runs import RunStore
from ferris_wire import runner_api as wire
from ferris_wire.runner_api import MAX_OUTPUT_CHARS

CHANNEL: LiteralString = "ferris_run_reports"
MAX_RETRIES_PER_RUN = 10
# Reports of any kind a run may send (report_seq): the runner sends two per step (64 at most)
# and one at the end; a script holding the token could otherwise rewrite 4 MiB of output for ever.
MAX_REPORTS_PER_RUN = 512
_NOT_TERMINAL: LiteralString = "phase NOT IN ('Succeeded', 'Failed', 'Cancelled')"


class ReportStore:
    def __init__(self, pool: ConnectionPool, announce: Announce | None = None) -> None:
        """``announce``: how a report is announced after its commit (the server's coalescing
        announcer); unset: a ``pg_notify`` in the report's own transaction."""
        self._pool = pool
        self._runs = RunStore(pool)
        self._announce = announce

    def _notify_within(self, conn: psycopg.Connection[Any], uid: str) -> None:
        if self._announce is None:
            conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, uid))

    def _announced(self, uid: str) -> None:
        if self._announce is not None:
            self._announce(CHANNEL, uid)

    def get(self, uid: str) -> RunRecord | None:
        return self._runs.get(uid)

    def step(
        self,
        uid: str,
        idx: int,
        phase: str,
        exit_code: int | None,
        started_at: datetime.datetime | None,
        finished_at: datetime.datetime | None,
        output: str | None,
        announce: bool,
    ) -> bool:
        """Store one of the run's steps (made with the run) and mark the run Running; False when
        the run has no step ``idx`` or has ended; ``ReportBudgetSpent`` past MAX_REPORTS_PER_RUN.
        ``announce``: tell the operator now (a step's result is published with the next step's
        start or the run's end, which follow at once: one status write per step instead of two)."""
        if output is not None and len(output) > MAX_OUTPUT_CHARS:
            output = "[output truncated]\n" + output[-MAX_OUTPUT_CHARS:]
        with self._pool.connection() as conn, conn.transaction():
            live = conn.execute(
                "UPDATE runs SET phase = CASE WHEN phase = 'Pending' THEN 'Running' ELSE phase END,"  # noqa: S608
                " started_at = COALESCE(started_at, now()), report_seq = report_seq + 1"
                " WHERE uid = %s AND " + _NOT_TERMINAL + " RETURNING uid, report_seq",
                (uid,),
            ).fetchone()
            if live is not None and live[1] > MAX_REPORTS_PER_RUN:
                raise ReportBudgetSpent(
                    f"a run may send at most {MAX_REPORTS_PER_RUN} reports, and this one has: nothing more is stored"
                )  # the transaction rolls back: the count stays at the cap
            updated = (
                live
                and conn.execute(
                    "UPDATE steps SET phase = %s, exit_code = COALESCE(%s, exit_code),"
                    " started_at = COALESCE(%s, started_at), finished_at = COALESCE(%s, finished_at),"
                    " output = COALESCE(%s, output),"
                    # the output kept by the runner replaces the chunks that went live
                    " live_chars = CASE WHEN %s::text IS NULL THEN live_chars ELSE 0 END"
                    " WHERE run_uid = %s AND idx = %s RETURNING idx",
                    (phase, exit_code, started_at, finished_at, output, output, uid, idx),
                ).fetchone()
            )
            if not updated:
                raise psycopg.Rollback()  # a step the run does not have: nothing counted
            if output is not None:
                conn.execute("DELETE FROM step_chunks WHERE run_uid = %s AND idx = %s", (uid, idx))
            if announce:
                self._notify_within(conn, uid)
        if announce and updated:
            self._announced(uid)
        return bool(updated)

    def append_output(self, uid: str, idx: int, offset: int, text: str) -> int:
        """Keep a running step's next lines, starting at character ``offset`` of its output; where
        the output now ends. A chunk sent again (its answer was lost) is found already there and
        not kept twice; any other gap or overlap is a ``ChunkRefused`` (409) with where the output
        ends, so nothing is shown twice or lost. Each chunk is a row of its own (step_chunks): a
        chunk writes its own bytes, not the whole output again. No notification: the operator
        has nothing to do for a chunk, and followers read the output where it is."""
        with self._pool.connection() as conn, conn.transaction():
            row = conn.execute(
                "SELECT s.live_chars, s.live_chunks FROM steps s JOIN runs r ON r.uid = s.run_uid"  # noqa: S608
                " WHERE s.run_uid = %s AND s.idx = %s AND s.phase = 'Running' AND r."
                + _NOT_TERMINAL
                + " FOR UPDATE OF s",
                (uid, idx),
            ).fetchone()
            if row is None:
                raise ChunkRefused(f"step {idx} is not running: its output is kept by its last report", 409)
            stored, chunks = row
            if stored == offset + len(text):
                return int(stored)  # sent before: here already (the runner sends in order)
            if stored != offset:
                raise ChunkRefused(f"the step's output stored ends at character {stored}, not {offset}", 409, stored)
            if offset + len(text) > MAX_OUTPUT_CHARS:
                raise ChunkRefused(
                    f"a step's live output stops at {MAX_OUTPUT_CHARS} characters; its last report keeps the rest",
                    413,
                    stored,
                )
            if chunks >= wire.MAX_CHUNKS_PER_STEP:
                raise ChunkRefused(f"a step may send at most {wire.MAX_CHUNKS_PER_STEP} chunks live", 429, stored)
            conn.execute(
                "INSERT INTO step_chunks (run_uid, idx, start, text) VALUES (%s, %s, %s, %s)", (uid, idx, offset, text)
            )
            conn.execute(
                "UPDATE steps SET live_chars = live_chars + %s, live_chunks = live_chunks + 1"
                " WHERE run_uid = %s AND idx = %s",
                (len(text), uid, idx),
            )
        return offset + len(text)

    def request_retry(self, record: RunRecord, start_after: datetime.datetime, params: dict[str, Any]) -> str:
        """Keep a run's retry request for the operator; the name of the FerrisRun it will be.
        ``RetryLimit`` past MAX_RETRIES_PER_RUN requests of one run."""
        request_id = uuid.uuid4().hex
        name = model.retry_run_name(record.package_name, request_id)
        with self._pool.connection() as conn, conn.transaction():
            live = conn.execute(
                "SELECT uid FROM runs WHERE uid = %s AND " + _NOT_TERMINAL + " FOR UPDATE",  # noqa: S608
                (record.uid,),
            ).fetchone()
            if live is None:
                raise RetryLimit("the run has ended")
            row = conn.execute("SELECT count(*) FROM retries WHERE run_uid = %s", (record.uid,)).fetchone()
            if row is not None and row[0] >= MAX_RETRIES_PER_RUN:
                raise RetryLimit(f"a run may ask for at most {MAX_RETRIES_PER_RUN} retries")
            conn.execute(
                "INSERT INTO retries (id, run_uid, namespace, package_name, run_name, start_after, params)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (request_id, record.uid, record.namespace, record.package_name, name, start_after, Jsonb(params)),
            )
            conn.execute("UPDATE runs SET report_seq = report_seq + 1 WHERE uid = %s", (record.uid,))
            self._notify_within(conn, record.uid)
        self._announced(record.uid)
        return name

    def set_output(self, uid: str, name: str, value: Any) -> None:
        """Keep one of the run's outputs (set again: replaced); ``OutputRefused`` when the run has
        ended or its outputs would pass MAX_OUTPUTS names or MAX_OUTPUTS_BYTES."""
        with self._pool.connection() as conn, conn.transaction():
            row = conn.execute(
                "SELECT outputs FROM runs WHERE uid = %s AND " + _NOT_TERMINAL + " FOR UPDATE",  # noqa: S608
                (uid,),
            ).fetchone()
            if row is None:
                raise OutputRefused("the run has ended")
            outputs = {**(row[0] or {}), name: value}
            if len(outputs) > wire.MAX_OUTPUTS:
                raise OutputRefused(f"a run may set at most {wire.MAX_OUTPUTS} outputs", too_large=True)
            size = len(json.dumps(outputs, separators=(",", ":")).encode())
            if size > wire.MAX_OUTPUTS_BYTES:
                raise OutputRefused(
                    f"a run's outputs are at most {wire.MAX_OUTPUTS_BYTES} bytes of JSON together; with {name!r}"
                    f" they would be {size}: keep large results elsewhere and output where they are",
                    too_large=True,
                )
            conn.execute("UPDATE runs SET outputs = %s WHERE uid = %s", (Jsonb(outputs), uid))

    def finished(self, uid: str, succeeded: bool, message: str) -> None:
        """Keep the runner's verdict (its first one) for the operator, which finishes the run."""
        with self._pool.connection() as conn, conn.transaction():
            conn.execute(
                "UPDATE runs SET runner_succeeded = %s, runner_message = %s,"  # noqa: S608
                " report_seq = report_seq + 1"
                " WHERE uid = %s AND runner_succeeded IS NULL AND " + _NOT_TERMINAL,
                (succeeded, message, uid),
            )
            self._notify_within(conn, uid)
        self._announced(uid)
