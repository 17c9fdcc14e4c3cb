"""RunStore against a real PostgreSQL: what the periodic resync reads."""

from __future__ import annotations

import psycopg
from psycopg_pool import ConnectionPool

from ferris_operator import model
from ferris_operator.records import NewRun
from ferris_operator.store.reports import ReportStore
from ferris_operator.store.runs import ACTIVE_RUNS_SQL, RunStore


def test_active_runs_are_read_through_the_partial_index_whatever_the_history(
    pool: ConnectionPool, database_url: str
) -> None:
    store = RunStore(pool)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM runs WHERE namespace = 'history-test'")
        conn.execute(
            "INSERT INTO runs (uid, namespace, name, package_name, phase, finished_at)"
            " SELECT 'hist-test-' || g, 'history-test', 'old-' || g, 'p', 'Succeeded', now()"
            " FROM generate_series(1, 20000) AS g"
        )
        conn.execute("ANALYZE runs")
    for name in ("pending", "running"):
        store.record_start(NewRun(f"uid-{name}-active", "history-test", name, "p", "puid", 1, 1, "digest", ["a.py"]))
    ReportStore(pool).step("uid-running-active", 0, model.STEP_RUNNING, None, None, None, None, announce=False)
    active = [r for r in store.active() if r.namespace == "history-test"]
    assert [(r.name, r.phase) for r in active] == [("pending", model.PENDING), ("running", model.RUNNING)]
    with psycopg.connect(database_url) as conn:
        plan = "\n".join(row[0] for row in conn.execute("EXPLAIN " + ACTIVE_RUNS_SQL).fetchall())
    assert "runs_active" in plan, plan


def test_finish_times_are_precise_and_only_for_finished_runs(pool: ConnectionPool) -> None:
    store = RunStore(pool)
    for name in ("done-a", "done-b", "open"):
        store.record_start(NewRun(f"uid-ft-{name}", "finish-times", name, "p", "puid", 1, 1, "digest", ["a.py"]))
    store.finish("uid-ft-done-a", model.SUCCEEDED, "Succeeded", "ok")
    store.finish("uid-ft-done-b", model.SUCCEEDED, "Succeeded", "ok")
    times = store.finish_times(["uid-ft-done-a", "uid-ft-done-b", "uid-ft-open", "uid-ft-unknown"])
    assert set(times) == {"uid-ft-done-a", "uid-ft-done-b"}
    assert times["uid-ft-done-a"] < times["uid-ft-done-b"]  # within the same second, still ordered


def test_a_run_name_is_known_once_recorded_in_its_namespace_with_its_trigger_only(pool: ConnectionPool) -> None:
    store = RunStore(pool)
    store.record_start(
        NewRun(
            "uid-known-1", "known-a", "nightly-202611301000", "nightly", "puid", 1, 1, "d", ["a.py"], trigger="Schedule"
        )
    )
    assert store.known("known-a", "nightly-202611301000", "Schedule")
    assert not store.known("known-a", "nightly-202611301000", "Event")
    assert not store.known("known-b", "nightly-202611301000", "Schedule")
    assert not store.known("known-a", "nightly-202611301001", "Schedule")
    # A run that claimed to be scheduled and was refused is recorded without the trigger it
    # claimed: it does not keep the schedule from making that time's run.
    store.record_failure_before_start(
        "uid-known-2", "known-a", "nightly-202611301100", "nightly", model.FAILED, "TriggerNotProven", "m"
    )
    assert not store.known("known-a", "nightly-202611301100", "Schedule")
    store.record_failure_before_start(
        "uid-known-3", "known-a", "nightly-202611301200", "nightly", model.FAILED, "PackageNotReady", "m", 0, "Schedule"
    )
    assert store.known("known-a", "nightly-202611301200", "Schedule")


def test_the_active_runs_of_a_package_are_those_started_and_not_ended_in_its_namespace(pool: ConnectionPool) -> None:
    store = RunStore(pool)
    for namespace, name, package in (
        ("policy-a", "first", "nightly"),
        ("policy-a", "second", "nightly"),
        ("policy-a", "ended", "nightly"),
        ("policy-a", "other-package", "hourly"),
        ("policy-b", "other-namespace", "nightly"),
    ):
        store.record_start(NewRun(f"uid-policy-{name}", namespace, name, package, "puid", 1, 1, "d", ["a.py"]))
    store.finish("uid-policy-ended", model.FAILED, "ScriptFailed", "exit 1")
    store.record_failure_before_start(
        "uid-policy-never", "policy-a", "never", "nightly", model.FAILED, "PackageNotReady", "m"
    )
    assert store.active_of_package("policy-a", "nightly") == [
        ("uid-policy-first", "first"),
        ("uid-policy-second", "second"),
    ]
    assert store.active_of_package("policy-a", "absent") == []


def test_a_run_that_ended_while_its_status_could_not_be_written_is_found_until_it_is(pool: ConnectionPool) -> None:
    store = RunStore(pool)
    for name in ("shown", "unshown", "open"):
        store.record_start(NewRun(f"uid-end-{name}", "ended", name, "p", "puid", 1, 1, "d", ["a.py"]))
    for name in ("shown", "unshown"):
        store.finish(f"uid-end-{name}", model.SUCCEEDED, "Succeeded", "ok")
    store.mark_end_published("uid-end-shown", model.SUCCEEDED)
    assert [r.name for r in store.ended_unpublished() if r.namespace == "ended"] == ["unshown"]
    store.mark_end_published("uid-end-unshown", model.SUCCEEDED)
    assert [r.name for r in store.ended_unpublished() if r.namespace == "ended"] == []


def test_a_runs_key_secret_uid_is_kept_and_replaced_with_its_token(pool: ConnectionPool) -> None:
    store = RunStore(pool)
    store.record_start(
        NewRun("uid-key-1", "keys", "r1", "p", "puid", 1, 1, "digest-1", ["a.py"], key_secret_uid="secret-1")
    )
    again = store.record_start(
        NewRun("uid-key-1", "keys", "r1", "p", "puid", 1, 1, "digest-2", ["a.py"], key_secret_uid="s2")
    )
    assert (again.token_sha256, again.key_secret_uid) == ("digest-1", "secret-1")  # the first call's, kept
    store.set_run_key("uid-key-1", "digest-2", "secret-2")  # the run's key Secret made anew
    record = store.get("uid-key-1")
    assert record is not None and (record.token_sha256, record.key_secret_uid) == ("digest-2", "secret-2")


def test_the_content_objects_in_use_are_those_the_namespaces_active_runs_mount(pool: ConnectionPool) -> None:
    store = RunStore(pool)
    runs = {"a": ("c1", "c2"), "b": ("c2", "c3"), "done": ("c4",)}
    for name, contents in runs.items():
        new = NewRun(f"uid-cu-{name}", "contents", name, "p", "puid", 1, 1, "d", ["a.py"], contents=contents)
        store.record_start(new)
    store.record_start(NewRun("uid-cu-other", "elsewhere", "x", "p", "puid", 1, 1, "d", ["a.py"], contents=("c9",)))
    store.finish("uid-cu-done", model.SUCCEEDED, "Succeeded", "ok")
    assert store.contents_in_use("contents") == {"c1", "c2", "c3"}
    assert store.contents_in_use("elsewhere") == {"c9"} and store.contents_in_use("nowhere") == set()
