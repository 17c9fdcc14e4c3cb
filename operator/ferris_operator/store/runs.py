"""Runs, their steps and outputs, and per-package state, in PostgreSQL."""

from __future__ import annotations

import datetime
import json
from typing import Any, LiteralString

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from ferris_operator import model
from ferris_operator.records import Attempt, NewRun, RetryRequest, RunRecord, StepRecord
from ferris_operator.retry_policy import RetryPolicy, attempt_run_name, policy_of
from ferris_operator.store import events

MAX_PARAMS_CHARS = 64 * 1024  # params kept with a run's history; larger ones are not kept


RUN_COLUMNS: LiteralString = (
    "uid, namespace, name, package_name, package_uid, package_generation, secrets_version, phase, "
    "reason, message, token_sha256, created_at, started_at, finished_at, params, "
    "report_seq, published_seq, runner_succeeded, runner_message, trigger, depth, secret_sources, "
    "attempt, max_attempts, retry_of, retry_policy, published_phase, key_secret_uid"
)


def newest_named(conn: psycopg.Connection[Any], namespace: str, name: str) -> RunRecord | None:
    """The newest run of that name in the namespace (a name can be used again)."""
    row = conn.execute(
        f"SELECT {RUN_COLUMNS} FROM runs WHERE namespace = %s AND name = %s"  # noqa: S608
        " ORDER BY created_at DESC LIMIT 1",
        (namespace, name),
    ).fetchone()
    return RunRecord(*row) if row else None


# What the event of a run's end is made from (store.events.run_ended).
ENDED_COLUMNS: LiteralString = "uid, namespace, name, package_name, package_uid, phase, reason, depth, outputs"

# Literal phases, as in the partial index runs_active (migration 2), so that it is used.
ACTIVE_RUNS_SQL: LiteralString = (
    "SELECT "  # noqa: S608 - literal strings only
    + RUN_COLUMNS
    + " FROM runs WHERE phase NOT IN ('Succeeded', 'Failed', 'Cancelled') ORDER BY created_at"
)


def _chain(attempt: Attempt | None, policy: RetryPolicy | None) -> tuple[Any, ...]:
    """attempt, max_attempts, retry_of, retry_policy of a run's row."""
    if attempt is not None:
        return attempt.attempt, attempt.max_attempts, attempt.retry_of, Jsonb(attempt.retry_policy)
    if policy is not None:
        return 1, policy.max_attempts, None, Jsonb(policy.to_json())
    return 1, 1, None, None


def _request_next_attempt(conn: psycopg.Connection[Any], uid: str, phase: str, reason: str) -> None:
    """In the transaction that ends the run: the request for its next attempt, when its chain's
    policy retries this failure and attempts remain (made once: the id is the run's)."""
    row = conn.execute(
        "SELECT namespace, name, package_name, package_uid, params, secrets_version, attempt, retry_policy"
        " FROM runs WHERE uid = %s",
        (uid,),
    ).fetchone()
    if row is None or row[7] is None or row[4] is None:  # no policy; or params too large to repeat
        return
    if conn.execute("SELECT 1 FROM run_secret_params WHERE run_uid = %s", (uid,)).fetchone():
        return  # its secret params are kept for this run only: an attempt could not have them
    if conn.execute("SELECT 1 FROM run_param_files WHERE run_uid = %s LIMIT 1", (uid,)).fetchone():
        return  # nor its files: they were uploaded for this run
    namespace, name, package_name, package_uid, params, version, attempt, stored = row
    policy = policy_of(stored)
    following = policy.next_attempt(int(attempt), phase, reason) if policy else None
    if policy is None or following is None:
        return
    conn.execute(
        "INSERT INTO retries (id, run_uid, namespace, package_name, run_name, start_after, params, attempt,"
        " max_attempts, retry_policy, package_uid, secrets_version, retry_of_name)"
        " VALUES (%s, %s, %s, %s, %s, now() + make_interval(secs => %s), %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (id) DO NOTHING",
        (
            f"attempt-{uid}",
            uid,
            namespace,
            package_name,
            attempt_run_name(name, following),
            policy.delay(int(attempt)),
            Jsonb(params),
            following,
            policy.max_attempts,
            Jsonb(stored),
            package_uid,
            version,
            name,
        ),
    )


def fold_live_output(conn: psycopg.Connection[Any], uid: str) -> None:
    """A run's steps whose output came only live (no last report: the runner was stopped or
    lost) keep those chunks as their output; the chunks go."""
    conn.execute(
        "UPDATE steps s SET output = c.text, live_chars = 0"
        " FROM (SELECT idx, string_agg(text, '' ORDER BY start) AS text FROM step_chunks"
        " WHERE run_uid = %s GROUP BY idx) c WHERE s.run_uid = %s AND s.idx = c.idx AND s.live_chars > 0",
        (uid, uid),
    )
    conn.execute("DELETE FROM step_chunks WHERE run_uid = %s", (uid,))


class RunStore:
    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def record_start(self, new: NewRun) -> RunRecord:
        """Insert the run and its pending steps once; a second call returns what the first stored."""
        params = new.params
        kept = Jsonb(params) if params is not None and len(json.dumps(params)) <= MAX_PARAMS_CHARS else None
        with self._pool.connection() as conn, conn.transaction():
            inserted = conn.execute(
                "INSERT INTO runs (uid, namespace, name, package_name, package_uid, package_generation,"
                " secrets_version, token_sha256, job_name, params, trigger, depth, secret_sources,"
                " attempt, max_attempts, retry_of, retry_policy, key_secret_uid, contents)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (uid) DO NOTHING RETURNING uid",
                (
                    new.uid,
                    new.namespace,
                    new.name,
                    new.package_name,
                    new.package_uid,
                    new.generation,
                    new.secrets_version,
                    new.token_sha256,
                    model.job_name(new.name),
                    kept,
                    new.trigger,
                    new.depth,
                    None if new.secret_sources is None else Jsonb(new.secret_sources),
                    *_chain(new.attempt, new.policy),
                    new.key_secret_uid,
                    list(new.contents),
                ),
            ).fetchone()
            if new.attempt is not None:  # the pin passes from the retry request to this run's row
                conn.execute("UPDATE retries SET consumed_at = now() WHERE made_uid = %s", (new.uid,))
            if inserted:
                with conn.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO steps (run_uid, idx, name, phase) VALUES (%s, %s, %s, %s)",
                        [(new.uid, i, step, model.STEP_PENDING) for i, step in enumerate(new.steps)],
                    )
        record = self.get(new.uid)
        assert record is not None
        return record

    def record_failure_before_start(
        self,
        uid: str,
        namespace: str,
        name: str,
        package_name: str,
        phase: str,
        reason: str,
        message: str,
        depth: int = 0,
        trigger: str | None = None,
    ) -> None:
        """A run that ended before it started, recorded once, with the event of its end.
        ``trigger``: the one the operator can vouch for (None for a claimed Schedule or Event
        that it did not make)."""
        with self._pool.connection() as conn, conn.transaction():
            ended = conn.execute(
                "INSERT INTO runs (uid, namespace, name, package_name, phase, reason, message, finished_at, depth,"  # noqa: S608
                " trigger) VALUES (%s, %s, %s, %s, %s, %s, %s, now(), %s, %s) ON CONFLICT (uid) DO NOTHING RETURNING "
                + ENDED_COLUMNS,
                (uid, namespace, name, package_name, phase, reason, message, depth, trigger),
            ).fetchone()
            if ended is not None:
                events.run_ended(conn, ended)
                conn.execute("DELETE FROM run_secret_params WHERE run_uid = %s", (uid,))

    def set_run_key(self, uid: str, token_sha256: str, key_secret_uid: str) -> None:
        """The token and key Secret of a run started again (its key Secret made anew)."""
        with self._pool.connection() as conn:
            conn.execute(
                "UPDATE runs SET token_sha256 = %s, key_secret_uid = %s WHERE uid = %s",
                (token_sha256, key_secret_uid, uid),
            )

    def get(self, uid: str) -> RunRecord | None:
        with self._pool.connection() as conn:
            row = conn.execute(f"SELECT {RUN_COLUMNS} FROM runs WHERE uid = %s", (uid,)).fetchone()  # noqa: S608
        return RunRecord(*row) if row else None

    def find(self, namespace: str, name: str) -> RunRecord | None:
        with self._pool.connection() as conn:
            return newest_named(conn, namespace, name)

    def finish_times(self, uids: list[str]) -> dict[str, datetime.datetime]:
        """When each of these runs finished, to the microsecond (status says it to the second)."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT uid, finished_at FROM runs WHERE uid = ANY(%s) AND finished_at IS NOT NULL", (uids,)
            ).fetchall()
        return {uid: finished_at for uid, finished_at in rows}

    def active(self) -> list[RunRecord]:
        with self._pool.connection() as conn:
            rows = conn.execute(ACTIVE_RUNS_SQL).fetchall()
        return [RunRecord(*row) for row in rows]

    def unpublished(self) -> list[RunRecord]:
        """Active runs with a report their status does not show yet (a notification not heard)."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT "  # noqa: S608 - literal strings only
                + RUN_COLUMNS
                + " FROM runs WHERE phase NOT IN ('Succeeded', 'Failed', 'Cancelled') AND report_seq > published_seq"
                " ORDER BY created_at"
            ).fetchall()
        return [RunRecord(*row) for row in rows]

    def contents_in_use(self, namespace: str) -> set[str]:
        """The package content objects the active runs of ``namespace`` mount."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT DISTINCT unnest(contents) FROM runs WHERE namespace = %s"
                " AND phase NOT IN ('Succeeded', 'Failed', 'Cancelled')",
                (namespace,),
            ).fetchall()
        return {str(row[0]) for row in rows}

    def active_of_package(self, namespace: str, package_name: str) -> list[tuple[str, str]]:
        """(uid, name) of the runs of a package that started and have not ended, oldest first
        (index runs_by_package, migration 2): what a concurrency policy weighs a new run against."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT uid, name FROM runs WHERE namespace = %s AND package_name = %s"
                " AND phase NOT IN ('Succeeded', 'Failed', 'Cancelled') ORDER BY created_at",
                (namespace, package_name),
            ).fetchall()
        return [(uid, name) for uid, name in rows]

    def known(self, namespace: str, name: str, trigger: str) -> bool:
        """Whether a run of that name and trigger was ever recorded in the namespace (index
        runs_by_name, migration 2). A run recorded with a Schedule or Event trigger is one the
        operator made: a claimed one it did not make is recorded without a trigger."""
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT 1 FROM runs WHERE namespace = %s AND name = %s AND trigger = %s LIMIT 1",
                (namespace, name, trigger),
            )
            return row.fetchone() is not None

    def pending_retries(self, run_uid: str | None = None) -> list[RetryRequest]:
        """Retry requests whose FerrisRun is not made yet: of one run, or of every run."""
        query: LiteralString = (
            "SELECT q.id, q.run_uid, q.namespace, q.package_name, q.run_name, q.start_after, q.params, q.attempt,"
            " coalesce(r.depth, 0) FROM retries q LEFT JOIN runs r ON r.uid = q.run_uid"
            " WHERE q.made_at IS NULL AND (%s::text IS NULL OR q.run_uid = %s) ORDER BY q.created_at LIMIT 500"
        )
        with self._pool.connection() as conn:
            rows = conn.execute(query, (run_uid, run_uid)).fetchall()
        return [RetryRequest(*row) for row in rows]

    def retry_made(self, request_id: str, made_uid: str | None = None) -> None:
        """The request's FerrisRun exists (``made_uid``: the run made for it, None when the name
        was taken by another object: then no run inherits the request)."""
        with self._pool.connection() as conn:
            conn.execute(
                "UPDATE retries SET made_at = now(), made_uid = %s WHERE id = %s AND made_at IS NULL",
                (made_uid, request_id),
            )

    def retry_being_made(self, namespace: str, run_name: str) -> bool:
        """An automatic retry is being made under this name: its FerrisRun may exist already,
        and the request does not name the run made yet (``retry_made`` follows the create)."""
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT 1 FROM retries WHERE namespace = %s AND run_name = %s AND made_at IS NULL"
                " AND attempt IS NOT NULL LIMIT 1",
                (namespace, run_name),
            ).fetchone()
        return row is not None

    def retry_depth(self, uid: str) -> int | None:
        """The chain depth the operator gave the run it made for a retry request (None: no
        request made it): the asking run's for an attempt, one more for a script's retry."""
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT coalesce(r.depth, 0) + CASE WHEN q.attempt IS NULL THEN 1 ELSE 0 END"
                " FROM retries q LEFT JOIN runs r ON r.uid = q.run_uid WHERE q.made_uid = %s LIMIT 1",
                (uid,),
            ).fetchone()
        return None if row is None else int(row[0])

    def runs_made_since(self, namespace: str, triggers: tuple[str, ...], since: datetime.datetime) -> int:
        """How many runs with these (proven) triggers were recorded in the namespace since
        ``since`` (index runs_page_by_trigger)."""
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT count(*) FROM runs WHERE namespace = %s AND trigger = ANY(%s) AND created_at > %s",
                (namespace, list(triggers), since),
            ).fetchone()
        return int(row[0]) if row else 0

    def attempt_of(self, uid: str) -> Attempt | None:
        """What the run inherits when it was made for an automatic retry; None otherwise."""
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT attempt, max_attempts, retry_of_name, retry_policy, secrets_version FROM retries"
                " WHERE made_uid = %s AND attempt IS NOT NULL",
                (uid,),
            ).fetchone()
        return None if row is None else Attempt(int(row[0]), int(row[1]), str(row[2]), dict(row[3]), row[4])

    def ended_unpublished(self, limit: int = 200) -> list[RunRecord]:
        """Runs that ended while their end could not be shown in their FerrisRun (oldest first)."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {RUN_COLUMNS} FROM runs WHERE phase IN ('Succeeded', 'Failed', 'Cancelled')"  # noqa: S608
                " AND published_phase IS DISTINCT FROM phase ORDER BY finished_at LIMIT %s",
                (limit,),
            ).fetchall()
        return [RunRecord(*row) for row in rows]

    def mark_end_published(self, uid: str, phase: str) -> None:
        """The run's FerrisRun shows its end, and with it every report: none is taken after the end,
        and the end's status is built from the steps as they were stored by then."""
        with self._pool.connection() as conn:
            conn.execute(
                "UPDATE runs SET published_phase = %s, published_seq = greatest(published_seq, report_seq)"
                " WHERE uid = %s AND (published_phase IS DISTINCT FROM %s OR published_seq < report_seq)",
                (phase, uid, phase),
            )

    def mark_published(self, uid: str, seq: int) -> None:
        """The run's status shows the runner's reports up to ``seq``."""
        with self._pool.connection() as conn:
            conn.execute("UPDATE runs SET published_seq = greatest(published_seq, %s) WHERE uid = %s", (seq, uid))

    def finish(self, uid: str, phase: str, reason: str, message: str) -> bool:
        """Move the run to a terminal phase once, with the event of its end and, when its chain's
        policy says so, the request for its next attempt; returns False when it already was
        terminal.

        Steps still Pending or Running become Skipped (or Failed for a Running step); what a
        step that never reported its end sent live becomes its output."""
        with self._pool.connection() as conn, conn.transaction():
            fold_live_output(conn, uid)
            changed = conn.execute(
                "UPDATE runs SET phase = %s, reason = %s, message = %s, finished_at = now(),"  # noqa: S608
                " started_at = COALESCE(started_at, now()), token_sha256 = NULL,"
                # What the namespace's output quota counts (store/retention.py): a run's output
                # no longer changes once it ended (its steps' phases below do, their output not).
                " output_bytes = (SELECT COALESCE(sum(octet_length(output)), 0) FROM steps WHERE run_uid = runs.uid)"
                " WHERE uid = %s AND phase <> ALL(%s) RETURNING " + ENDED_COLUMNS,
                (phase, reason, message, uid, list(model.TERMINAL)),
            ).fetchone()
            if changed:
                events.run_ended(conn, changed)
                _request_next_attempt(conn, uid, phase, reason)
                conn.execute("DELETE FROM run_secret_params WHERE run_uid = %s", (uid,))  # kept for its run only
                conn.execute(
                    "UPDATE steps SET phase = %s, finished_at = now() WHERE run_uid = %s AND phase = %s",
                    (model.STEP_FAILED, uid, model.STEP_RUNNING),
                )
                conn.execute(
                    "UPDATE steps SET phase = %s WHERE run_uid = %s AND phase = %s",
                    (model.STEP_SKIPPED, uid, model.STEP_PENDING),
                )
        return changed is not None

    def steps(self, uid: str, tail: int | None = None) -> list[StepRecord]:
        """The run's steps in order; with ``tail``, only the last ``tail`` characters of each
        output are read (a status write needs 1 KiB, not up to 4 MiB per step)."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT idx, name, phase, exit_code, started_at, finished_at,"
                " CASE WHEN %s::int IS NULL THEN output ELSE right(output, %s::int) END"
                " FROM steps WHERE run_uid = %s ORDER BY idx",
                (tail, tail, uid),
            ).fetchall()
        return [StepRecord(*row) for row in rows]
