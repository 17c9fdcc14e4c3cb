"""HistoryStore against a real PostgreSQL: keyset pages see every run once, filters hold, and a
follower reads only what is new of a step's output."""

from __future__ import annotations

import uuid

import pytest
from psycopg_pool import ConnectionPool

from ferris_operator import model
from ferris_operator.records import NewRun, RunFilter
from ferris_operator.store.history import HistoryStore
from ferris_operator.store.reports import ReportStore
from ferris_operator.store.runs import RunStore


def test_pages_walk_every_run_once_newest_first_and_filters_hold(pool: ConnectionPool) -> None:
    namespace = "hist-" + uuid.uuid4().hex[:6]
    store, history = RunStore(pool), HistoryStore(pool)
    for i in range(7):
        store.record_start(
            NewRun(f"{namespace}-{i}", namespace, f"r{i}", f"p{i % 2}", "puid", 1, 1, "d", ["a.py"], {"i": i})
        )
    store.finish(f"{namespace}-3", model.FAILED, "StepFailed", "x")
    seen, cursor = [], None
    while True:
        runs, cursor = history.page(RunFilter(namespace), cursor, 3)
        seen += [r.name for r in runs]
        if cursor is None:
            break
    assert sorted(seen) == [f"r{i}" for i in range(7)] and len(seen) == len(set(seen))
    created = [r.created_at for r in history.page(RunFilter(namespace), None, 10)[0]]
    assert created == sorted(created, reverse=True)
    assert {r.name for r in history.page(RunFilter(namespace, package="p1"), None, 10)[0]} == {"r1", "r3", "r5"}
    assert [r.name for r in history.page(RunFilter(namespace, phase=model.FAILED), None, 10)[0]] == ["r3"]
    assert history.find(namespace, "r4").params == {"i": 4}  # type: ignore[union-attr]


def test_a_follower_reads_a_steps_output_from_where_it_stopped(pool: ConnectionPool) -> None:
    uid = "follow-" + uuid.uuid4().hex[:6]
    store, history = RunStore(pool), HistoryStore(pool)
    store.record_start(NewRun(uid, "follow", uid, "p", "puid", 1, 1, "d", ["a.py"]))
    ReportStore(pool).step(uid, 0, model.STEP_SUCCEEDED, 0, None, None, "first line\nsecond line\n", announce=False)
    assert history.output(uid, 0).output == "first line\nsecond line\n"  # type: ignore[union-attr]
    assert history.output(uid, 0, start=11).output == "second line\n"  # type: ignore[union-attr]
    assert history.output(uid, 0, start=100).output == ""  # type: ignore[union-attr]
    [summary] = history.steps(uid)
    assert summary.output_bytes == len("first line\nsecond line\n") and summary.step.output == ""


def test_history_keeps_what_started_each_run_and_pages_by_it(pool: ConnectionPool) -> None:
    namespace = "trigger-" + uuid.uuid4().hex[:6]
    store, history = RunStore(pool), HistoryStore(pool)
    for i, trigger in enumerate(["Manual", "Schedule", "Schedule", None]):
        store.record_start(
            NewRun(f"{namespace}-{i}", namespace, f"r{i}", "p", "puid", 1, 1, "d", ["a.py"], trigger=trigger)
        )
    scheduled, _ = history.page(RunFilter(namespace, trigger="Schedule"), None, 10)
    assert sorted(r.name for r in scheduled) == ["r1", "r2"]
    assert history.find(namespace, "r0").trigger == "Manual"  # type: ignore[union-attr]
    assert history.find(namespace, "r3").trigger is None  # type: ignore[union-attr]  # runs from before migration 8


def test_the_overview_counts_what_goes_on_and_what_ended_lately_in_the_namespaces_asked(pool: ConnectionPool) -> None:
    import datetime

    mine, other = ("ov-" + uuid.uuid4().hex[:6] for _ in range(2))
    store, history = RunStore(pool), HistoryStore(pool)
    for namespace in (mine, other):
        for i in range(5):
            store.record_start(NewRun(f"{namespace}-{i}", namespace, f"r{i}", "p", "puid", 1, 1, "d", ["a.py"]))
    ReportStore(pool).step(f"{mine}-0", 0, model.STEP_RUNNING, None, None, None, None, announce=False)
    store.finish(f"{mine}-1", model.FAILED, "StepFailed", "x")
    store.finish(f"{mine}-2", model.SUCCEEDED, "Succeeded", "")
    store.finish(f"{mine}-3", model.FAILED, "StepFailed", "long ago")
    with pool.connection() as conn:  # ended before the window: neither counted nor listed
        conn.execute("UPDATE runs SET finished_at = now() - interval '2 days' WHERE uid = %s", (f"{mine}-3",))
    since = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=24)
    seen = history.overview([mine], since, 20)
    assert seen.counts == {mine: {model.RUNNING: 1, model.PENDING: 1, model.FAILED: 1, model.SUCCEEDED: 1}}
    assert [r.name for r in seen.active] == ["r4", "r0"]  # newest first
    assert [r.name for r in seen.failed] == ["r1"]
    assert [r.name for r in history.overview([mine], since, 1).active] == ["r4"]
    assert history.overview([], since, 20).counts == {}


def test_pages_oldest_first_walk_every_run_once_and_a_token_keeps_its_order(pool: ConnectionPool) -> None:
    from ferris_operator.server import queries, views

    namespace = "asc-" + uuid.uuid4().hex[:6]
    store, history = RunStore(pool), HistoryStore(pool)
    for i in range(5):
        store.record_start(NewRun(f"{namespace}-{i}", namespace, f"r{i}", "p", "puid", 1, 1, "d", ["a.py"]))
    seen, cursor = [], None
    while True:
        runs, cursor = history.page(RunFilter(namespace, oldest_first=True), cursor, 2)
        seen += runs
        if cursor is None:
            break
        assert cursor.oldest_first
    created = [(r.created_at, r.uid) for r in seen]
    assert created == sorted(created) and len(seen) == 5
    _, token = history.page(RunFilter(namespace), None, 2)
    assert token is not None
    with pytest.raises(queries.QueryError, match="other order"):
        queries.run_page(namespace, {"order": "oldest", "continue": views.cursor_token(token) or ""})
