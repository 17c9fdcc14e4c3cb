"""Run history's retention against a real PostgreSQL (each test its own database): finished
runs past the retention go with their steps and the retries they made, nothing that still
matters goes, a namespace over its output quota loses its oldest runs' output (and only its
own), and a long history is worked through in batches."""

from __future__ import annotations

import datetime
import uuid

import psycopg
from psycopg_pool import ConnectionPool

from ferris_operator import model, reasons
from ferris_operator.records import NewRun
from ferris_operator.runs.retention import HistoryRetention, removed_note
from ferris_operator.store.reports import ReportStore
from ferris_operator.store.retention import RetentionStore
from ferris_operator.store.runs import RunStore

NOW = datetime.datetime.now(datetime.UTC)


def ended_run(
    pool: ConnectionPool, namespace: str, days_ago: float, output: str = "out", published: bool = True
) -> str:
    runs, reports = RunStore(pool), ReportStore(pool)
    uid = "run-" + uuid.uuid4().hex[:10]
    runs.record_start(NewRun(uid, namespace, uid, "pkg", "puid", 1, 1, "digest", ["a.py", "b.py"]))
    for idx in (0, 1):
        assert reports.step(uid, idx, model.STEP_SUCCEEDED, 0, None, None, output, False)
    assert runs.finish(uid, model.SUCCEEDED, reasons.SUCCEEDED, "done")
    if published:
        runs.mark_end_published(uid, model.SUCCEEDED)
    with pool.connection() as conn:
        conn.execute(
            "UPDATE runs SET finished_at = %s, created_at = %s WHERE uid = %s",
            (NOW - datetime.timedelta(days=days_ago), NOW - datetime.timedelta(days=days_ago), uid),
        )
    return uid


def kept(pool: ConnectionPool) -> set[str]:
    with pool.connection() as conn:
        return {uid for (uid,) in conn.execute("SELECT uid FROM runs").fetchall()}


def test_finished_runs_past_the_retention_go_with_their_steps_and_what_still_matters_stays(
    pool: ConnectionPool,
) -> None:
    old = ended_run(pool, "team-a", 100)
    young = ended_run(pool, "team-a", 10)
    unpublished = ended_run(pool, "team-a", 100, published=False)  # its FerrisRun does not show the end yet
    waiting = ended_run(pool, "team-a", 100)  # its retry has not been made yet
    made = ended_run(pool, "team-a", 100)
    running = "run-" + uuid.uuid4().hex[:10]
    RunStore(pool).record_start(NewRun(running, "team-a", running, "pkg", "puid", 1, 1, "digest", ["a.py"]))
    with pool.connection() as conn:
        conn.execute("UPDATE runs SET created_at = %s WHERE uid = %s", (NOW - datetime.timedelta(days=200), running))
        for uid, made_at in ((waiting, None), (made, NOW)):
            conn.execute(
                "INSERT INTO retries (id, run_uid, namespace, package_name, run_name, start_after, made_at)"
                " VALUES (%s, %s, 'team-a', 'pkg', %s, %s, %s)",
                (uuid.uuid4().hex, uid, uid + "-r", NOW, made_at),
            )
    outcome = HistoryRetention(RetentionStore(pool), 90, 0).pass_once(NOW)
    assert outcome.runs_removed == 2
    assert kept(pool) == {young, unpublished, waiting, running}
    with pool.connection() as conn:
        left = conn.execute(
            "SELECT (SELECT count(*) FROM steps WHERE run_uid = ANY(%s)),"
            " (SELECT count(*) FROM retries WHERE run_uid = %s)",
            ([old, made], made),
        ).fetchone()
    assert left == (0, 0)


def test_a_retention_of_zero_keeps_everything(pool: ConnectionPool) -> None:
    uid = ended_run(pool, "team-a", 3000)
    assert HistoryRetention(RetentionStore(pool), 0, 0).pass_once(NOW).runs_removed == 0
    assert kept(pool) == {uid}


def test_a_namespace_over_its_output_quota_loses_its_oldest_runs_output_and_no_one_elses(pool: ConnectionPool) -> None:
    chunk = "x" * 1000  # two steps: 2,000 bytes a run
    oldest, older, newest = (ended_run(pool, "noisy", days, chunk) for days in (30, 20, 10))
    quiet = ended_run(pool, "quiet", 40, chunk)
    outcome = HistoryRetention(RetentionStore(pool), 90, 4500).pass_once(NOW)  # noisy holds 6,000
    assert outcome.output_bytes_removed == 2000 and outcome.namespaces_over_quota == 1
    runs = RunStore(pool)
    note = removed_note("noisy", 4500)
    assert [s.output for s in runs.steps(oldest)] == [note, note]
    for uid in (older, newest, quiet):
        assert [s.output for s in runs.steps(uid)] == [chunk, chunk]
    record = runs.get(oldest)
    assert record is not None and record.phase == model.SUCCEEDED  # the run and its outcome stay
    assert HistoryRetention(RetentionStore(pool), 90, 4500).pass_once(NOW).output_bytes_removed == 0  # settled


def test_runs_that_ended_before_output_was_counted_are_counted_by_the_pass(pool: ConnectionPool) -> None:
    uids = [ended_run(pool, "legacy", days, "y" * 1000) for days in (5, 4, 3)]
    with pool.connection() as conn:
        conn.execute("UPDATE runs SET output_bytes = NULL")  # as the migration leaves them
    outcome = HistoryRetention(RetentionStore(pool), 90, 3000, batch=2).pass_once(NOW)
    assert outcome.output_bytes_removed == 4000  # 6,000 held: the two oldest went
    assert [RunStore(pool).steps(uid)[0].output == "y" * 1000 for uid in uids] == [False, False, True]


def test_a_long_history_goes_in_batches_and_the_next_pass_goes_on(pool: ConnectionPool) -> None:
    for days in range(100, 107):
        ended_run(pool, "team-a", days)
    retention = HistoryRetention(RetentionStore(pool), 90, 0, batch=2, batches=2)
    assert retention.pass_once(NOW).runs_removed == 4
    assert retention.pass_once(NOW).runs_removed == 3
    assert kept(pool) == set()


def test_the_output_a_run_ends_with_is_counted_in_the_same_step(pool: ConnectionPool) -> None:
    uid = ended_run(pool, "team-a", 1, "z" * 321)
    with psycopg.connect(pool.conninfo) as conn:
        assert conn.execute("SELECT output_bytes FROM runs WHERE uid = %s", (uid,)).fetchone() == (642,)


def test_secret_params_with_no_active_run_go_after_an_hour_and_an_active_runs_stay(pool: ConnectionPool) -> None:
    """The server keeps a run's secret params right after it made the run: a run that ended (or
    was never recorded) before that leaves them with no end to remove them; the pass does."""
    store, runs = RetentionStore(pool), RunStore(pool)
    active, orphan, ended = ("run-" + uuid.uuid4().hex[:8] for _ in range(3))
    for uid in (active, ended):
        runs.record_start(NewRun(uid, "ns", uid, "pkg", "pkg-uid", 1, 1, "digest", ["a.py"]))
    runs.finish(ended, model.FAILED, reasons.PACKAGE_NOT_FOUND, "ended before the server kept its params")
    with psycopg.connect(pool.conninfo) as conn:
        for uid in (active, orphan, ended):
            conn.execute(
                "INSERT INTO run_secret_params (run_uid, package_uid, ciphertext, created_at)"
                " VALUES (%s, 'pkg-uid', 'x', now() - interval '2 hours')",
                (uid,),
            )
    now = datetime.datetime.now(datetime.UTC)
    HistoryRetention(store, retention_days=0, output_quota=0).pass_once(now)
    with psycopg.connect(pool.conninfo) as conn:
        left = {uid for (uid,) in conn.execute("SELECT run_uid FROM run_secret_params").fetchall()}
    assert active in left and orphan not in left and ended not in left


def test_a_runs_files_go_with_its_history_and_a_never_recorded_runs_after_an_hour(pool: ConnectionPool) -> None:
    """A file param's file is kept as long as its run's history: the pass that removes the run
    removes them; files for a run never recorded (its FerrisRun deleted first) go after an hour."""
    old, recent = ended_run(pool, "team-a", 100), ended_run(pool, "team-a", 1)
    orphan, fresh = "run-" + uuid.uuid4().hex[:8], "run-" + uuid.uuid4().hex[:8]
    with psycopg.connect(pool.conninfo) as conn:
        for uid, age in ((old, "2 hours"), (recent, "2 hours"), (orphan, "2 hours"), (fresh, "1 minute")):
            conn.execute(
                "INSERT INTO run_param_files (run_uid, param, package_uid, name, bytes, sha256, ciphertext, created_at)"
                " VALUES (%s, 'data', 'puid', 'a.csv', 1, 'x', 'x', now() - %s::interval)",
                (uid, age),
            )
    HistoryRetention(RetentionStore(pool), retention_days=90, output_quota=0).pass_once(NOW)
    with psycopg.connect(pool.conninfo) as conn:
        left = {uid for (uid,) in conn.execute("SELECT run_uid FROM run_param_files").fetchall()}
    assert left == {recent, fresh}
    assert kept(pool) == {recent}
