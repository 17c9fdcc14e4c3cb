"""Runners' reports between the server and the operator, against a real PostgreSQL: what the
runner API stores and announces, what the operator hears (and hears again after its
connection drops), and how it publishes or finishes a run from what was stored."""

from __future__ import annotations

import datetime
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import psycopg.conninfo
import psycopg.sql
import pytest
from psycopg_pool import ConnectionPool

from ferris_operator import model, reasons
from ferris_operator.crypto.run_tokens import RunTokens
from ferris_operator.ownership import Provenance
from ferris_operator.problems import ChunkRefused, OutputRefused, ReportBudgetSpent, RetryLimit
from ferris_operator.records import NewRun
from ferris_operator.runs.history import History
from ferris_operator.runs.outcomes import Outcomes
from ferris_operator.runs.reports import Reports
from ferris_operator.runs.retries import Retries
from ferris_operator.runs.sightings import Sightings
from ferris_operator.settings import Settings
from ferris_operator.store.announcer import EVERYTHING, CoalescingAnnouncer, items_of, payload
from ferris_operator.store.events import EventStore
from ferris_operator.store.history import HistoryStore
from ferris_operator.store.notifications import Listener
from ferris_operator.store.reports import CHANNEL, MAX_REPORTS_PER_RUN, MAX_RETRIES_PER_RUN, ReportStore
from ferris_operator.store.runs import RunStore
from ferris_wire import runner_api as wire

TOKENS = RunTokens({"k1": b"\x01" * 32}, "k1")  # the operator's: what stamps the retries it makes


class QuietKube:
    """Status writes are kept; everything else on the Kubernetes side is a no-op."""

    def __init__(self) -> None:
        self.statuses: list[dict[str, Any]] = []

    def patch_status(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.statuses.append(status)

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


@pytest.fixture
def stores(pool: ConnectionPool) -> tuple[RunStore, ReportStore]:
    return RunStore(pool), ReportStore(pool)


def new_run(store: RunStore, steps: int = 2) -> str:
    uid = "run-" + uuid.uuid4().hex[:8]
    store.record_start(NewRun(uid, "tenant", uid, "pkg", "puid", 1, 1, "digest", [f"s{i}.py" for i in range(steps)]))
    return uid


def step(reports: ReportStore, uid: str, idx: int, phase: str, announce: bool = True) -> bool:
    return reports.step(uid, idx, phase, None, None, None, f"output of {idx}", announce)


def test_a_report_marks_the_run_running_and_counts_once(stores: tuple[RunStore, ReportStore]) -> None:
    runs, reports = stores
    uid = new_run(runs)
    assert step(reports, uid, 0, model.STEP_RUNNING)
    assert not step(reports, uid, 7, model.STEP_RUNNING), "a step the run does not have"
    record = runs.get(uid)
    assert record is not None and (record.phase, record.report_seq) == (model.RUNNING, 1)
    assert [s.phase for s in runs.steps(uid)] == [model.STEP_RUNNING, model.STEP_PENDING]


def test_a_finished_run_takes_no_more_reports(stores: tuple[RunStore, ReportStore]) -> None:
    runs, reports = stores
    uid = new_run(runs)
    runs.finish(uid, model.CANCELLED, reasons.CANCELLED, "cancelled")
    assert not step(reports, uid, 0, model.STEP_RUNNING)
    reports.finished(uid, True, "all good")
    record = runs.get(uid)
    assert record is not None and (record.report_seq, record.runner_succeeded) == (0, None)
    assert [s.phase for s in runs.steps(uid)] == [model.STEP_SKIPPED, model.STEP_SKIPPED]


def test_a_run_sends_at_most_its_report_budget_and_what_is_over_it_stores_nothing(
    stores: tuple[RunStore, ReportStore],
) -> None:
    """A script holding its run's token rewrote a 4 MiB step report without limit."""
    runs, reports = stores
    uid = new_run(runs)
    big = "x" * (1024 * 1024)
    for _ in range(MAX_REPORTS_PER_RUN):
        assert reports.step(uid, 0, model.STEP_RUNNING, None, None, None, big, False)
    with pytest.raises(ReportBudgetSpent, match=f"at most {MAX_REPORTS_PER_RUN} reports"):
        reports.step(uid, 0, model.STEP_RUNNING, None, None, None, "the last word", False)
    record = runs.get(uid)
    assert record is not None and record.report_seq == MAX_REPORTS_PER_RUN
    assert runs.steps(uid)[0].output == big  # nothing of the refused report stored


def test_a_running_steps_chunks_append_once_each_and_its_last_report_keeps_the_whole_output(
    pool: ConnectionPool, stores: tuple[RunStore, ReportStore]
) -> None:
    runs, reports = stores
    uid = new_run(runs)
    with pytest.raises(ChunkRefused, match="not running") as refused:
        reports.append_output(uid, 0, 0, "early\n")  # before the step started
    assert refused.value.status == 409
    assert reports.step(uid, 0, model.STEP_RUNNING, None, None, None, None, True)
    assert reports.append_output(uid, 0, 0, "one\n") == 4
    assert reports.append_output(uid, 0, 4, "twö\n") == 8  # characters, not bytes
    assert reports.append_output(uid, 0, 4, "twö\n") == 8, "sent again after a lost answer: not twice"
    with pytest.raises(ChunkRefused) as refused:
        reports.append_output(uid, 0, 12, "lost\n")  # a gap: something before it never came
    assert (refused.value.status, refused.value.stored) == (409, 8)
    history = HistoryStore(pool)
    assert history.output(uid, 0).output == "one\ntwö\n"  # type: ignore[union-attr]
    assert history.output(uid, 0, 6).output == "ö\n"  # type: ignore[union-attr]  # from inside a chunk
    assert history.output(uid, 0, 8).output == ""  # type: ignore[union-attr]
    record = runs.get(uid)
    assert record is not None and record.report_seq == 1, "a chunk is not a report: the operator hears nothing"
    with pytest.raises(ChunkRefused) as refused:
        reports.append_output(uid, 0, 8, "x" * (wire.MAX_OUTPUT_CHARS - 7))
    assert refused.value.status == 413
    with pool.connection() as conn:
        conn.execute(
            "UPDATE steps SET live_chunks = %s WHERE run_uid = %s AND idx = 0", (wire.MAX_CHUNKS_PER_STEP, uid)
        )
    with pytest.raises(ChunkRefused, match="at most") as refused:
        reports.append_output(uid, 0, 8, "three\n")
    assert refused.value.status == 429
    assert reports.step(uid, 0, model.STEP_SUCCEEDED, 0, None, None, "one\ntwö\nthree\n", False)
    assert runs.steps(uid)[0].output == "one\ntwö\nthree\n"
    assert history.output(uid, 0, 4).output == "twö\nthree\n"  # type: ignore[union-attr]  # the kept output now
    with pool.connection() as conn:
        assert conn.execute("SELECT count(*) FROM step_chunks WHERE run_uid = %s", (uid,)).fetchone() == (0,)
    with pytest.raises(ChunkRefused, match="not running"):
        reports.append_output(uid, 0, 14, "late\n")


def test_a_step_that_never_reported_its_end_keeps_what_it_sent_live(
    pool: ConnectionPool, stores: tuple[RunStore, ReportStore]
) -> None:
    """A run cancelled (or whose runner was lost) mid-step: the chunks are its output."""
    runs, reports = stores
    uid = new_run(runs)
    assert reports.step(uid, 0, model.STEP_RUNNING, None, None, None, None, True)
    reports.append_output(uid, 0, 0, "working\n")
    reports.append_output(uid, 0, 8, "still working\n")
    assert runs.finish(uid, model.CANCELLED, reasons.CANCELLED, "cancelled")
    assert runs.steps(uid)[0].output == "working\nstill working\n"
    assert HistoryStore(pool).output(uid, 0).output == "working\nstill working\n"  # type: ignore[union-attr]
    record = runs.get(uid)
    assert record is not None
    with pool.connection() as conn:
        counted = conn.execute("SELECT output_bytes FROM runs WHERE uid = %s", (uid,)).fetchone()
        assert counted == (len("working\nstill working\n"),)  # the namespace's output quota counts it
        assert conn.execute("SELECT count(*) FROM step_chunks WHERE run_uid = %s", (uid,)).fetchone() == (0,)


def test_outputs_are_kept_bounded_and_carried_in_the_event_of_the_runs_end(pool: ConnectionPool) -> None:
    runs, reports, events = RunStore(pool), ReportStore(pool), EventStore(pool)
    uid = new_run(runs)
    reports.set_output(uid, "rows", 3)
    reports.set_output(uid, "table", "orders")
    reports.set_output(uid, "rows", 4)  # set again: replaced
    with pytest.raises(OutputRefused, match="at most 65536 bytes of JSON together") as refused:
        reports.set_output(uid, "blob", "x" * (64 * 1024))
    assert refused.value.too_large
    with pytest.raises(OutputRefused, match="at most 64 outputs"):
        for i in range(64):
            reports.set_output(uid, f"o{i}", i)
    assert HistoryStore(pool).outputs(uid) == {"rows": 4, "table": "orders", **{f"o{i}": i for i in range(62)}}
    runs.finish(uid, model.SUCCEEDED, "Succeeded", "done")
    with pytest.raises(OutputRefused, match="the run has ended") as ended:
        reports.set_output(uid, "late", 1)
    assert not ended.value.too_large
    [event] = [r.event for r in events.page("tenant", None, 500)[0] if r.event.id == uid]
    assert event.data["outputs"]["rows"] == 4 and event.data["outputs"]["table"] == "orders"


def test_a_run_whose_end_is_shown_shows_every_report_whichever_path_ended_it(
    stores: tuple[RunStore, ReportStore],
) -> None:
    """The Job's end can finish a run before its last reports are taken up (the operator was
    away): the end's status is built from every stored step, and no report is taken after it."""
    runs, reports = stores
    uid = new_run(runs)
    step(reports, uid, 0, model.STEP_SUCCEEDED)
    reports.finished(uid, True, "done")
    assert runs.finish(uid, model.SUCCEEDED, reasons.SUCCEEDED, "done")
    runs.mark_end_published(uid, model.SUCCEEDED)
    record = runs.get(uid)
    assert record is not None and record.report_seq == 2 and record.published_seq == 2


def test_the_runners_first_verdict_is_the_one_kept(stores: tuple[RunStore, ReportStore]) -> None:
    runs, reports = stores
    uid = new_run(runs)
    reports.finished(uid, False, "step s1.py exited with code 3")
    reports.finished(uid, True, "a second, later word")
    record = runs.get(uid)
    assert record is not None and (record.runner_succeeded, record.runner_message) == (
        False,
        "step s1.py exited with code 3",
    )


def test_a_report_is_announced_when_it_is_committed_and_only_when_asked(
    stores: tuple[RunStore, ReportStore], database_url: str
) -> None:
    runs, reports = stores
    uid = new_run(runs)
    with psycopg.connect(database_url, autocommit=True) as listening:
        listening.execute("LISTEN " + CHANNEL)
        step(reports, uid, 0, model.STEP_SUCCEEDED, announce=False)
        assert [n.payload for n in listening.notifies(timeout=0.5)] == []
        step(reports, uid, 1, model.STEP_RUNNING)
        reports.finished(uid, True, "done")
        heard = [n.payload for n in listening.notifies(timeout=1.0, stop_after=2)]
    assert heard == [uid, uid]


def test_the_listener_hears_reports_and_reconnects_after_its_connection_is_killed(
    stores: tuple[RunStore, ReportStore], database_url: str
) -> None:
    runs, reports = stores
    heard: list[str] = []
    connections = threading.Semaphore(0)
    listener = Listener(database_url, {CHANNEL: heard.append}, connections.release, poll_seconds=0.2)
    listener.start()
    try:
        assert connections.acquire(timeout=10), "the listener never connected"
        first = new_run(runs)
        step(reports, first, 0, model.STEP_RUNNING)
        wait_for(lambda: first in heard)
        with psycopg.connect(database_url, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE 'LISTEN %%'"
            ).fetchone()
        assert killed == (1,)
        assert connections.acquire(timeout=15), "the listener did not reconnect (its connected() tells the operator)"
        second = new_run(runs)
        step(reports, second, 0, model.STEP_RUNNING)
        wait_for(lambda: second in heard)
    finally:
        listener.stop()


def test_a_listener_that_does_not_hear_its_own_notification_says_why_until_it_does(database_url: str) -> None:
    """A LISTEN connection that hears nothing sent through the database URL (as through a
    transaction-mode pooler) is a problem named in the operator's readiness; here simulated by a
    listener on one database and the URL everything writes with on another (notifications do
    not cross databases)."""
    other = "ferris_other_" + uuid.uuid4().hex[:8]
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(other)))
    try:
        elsewhere = psycopg.conninfo.make_conninfo(database_url, dbname=other)
        deaf = Listener(database_url, {CHANNEL: lambda _: None}, lambda: None, 0.2, elsewhere, check_seconds=1)
        hearing = Listener(database_url, {CHANNEL: lambda _: None}, lambda: None, 0.2, check_seconds=1)
        for listener in (deaf, hearing):
            listener.start()
        try:
            wait_for(lambda: hearing.problem is None)
            wait_for(lambda: deaf.problem is not None and "transaction-mode pooler" in deaf.problem)
            assert "FERRIS_DATABASE_LISTEN_URL" in (deaf.problem or "")
        finally:
            for listener in (deaf, hearing):
                listener.stop()
    finally:
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(psycopg.sql.SQL("DROP DATABASE {} WITH (FORCE)").format(psycopg.sql.Identifier(other)))


def wait_for(condition: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not heard in time"
        time.sleep(0.05)


@pytest.fixture
def taken_up(pool: ConnectionPool) -> tuple[Reports, QuietKube]:
    kube = QuietKube()
    store = RunStore(pool)
    settings = Settings(database_url="postgresql://unused", master_key_dir=Path("."))
    retries = Retries(kube, store, TOKENS)
    outcomes = Outcomes(kube, store, History(kube, store, settings, Sightings()), retries, Provenance(TOKENS))
    return Reports(store, outcomes, retries), kube


def test_the_operator_publishes_what_was_reported_and_remembers_it_did(
    stores: tuple[RunStore, ReportStore], taken_up: tuple[Reports, QuietKube]
) -> None:
    runs, reports = stores
    service, kube = taken_up
    uid = new_run(runs)
    step(reports, uid, 0, model.STEP_RUNNING)
    service.on_report(uid)
    record = runs.get(uid)
    assert record is not None and not record.unpublished and record.published_seq == 1
    assert kube.statuses[-1]["phase"] == model.RUNNING
    assert kube.statuses[-1]["steps"][0]["phase"] == model.STEP_RUNNING


def test_a_verdict_finishes_the_run_once_and_catch_up_finds_only_what_was_missed(
    stores: tuple[RunStore, ReportStore], taken_up: tuple[Reports, QuietKube]
) -> None:
    runs, reports = stores
    service, kube = taken_up
    missed, seen = new_run(runs), new_run(runs)
    for uid in (missed, seen):
        step(reports, uid, 0, model.STEP_SUCCEEDED)
        step(reports, uid, 1, model.STEP_FAILED)
    service.on_report(seen)  # published; the verdict of ``missed`` was never heard of
    reports.finished(missed, False, "step s1.py exited with code 1")
    kube.statuses.clear()
    service.catch_up()
    assert len(kube.statuses) == 1 and kube.statuses[0]["phase"] == model.FAILED
    record = runs.get(missed)
    assert record is not None and (record.phase, record.reason, record.message) == (
        model.FAILED,
        reasons.STEP_FAILED,
        "step s1.py exited with code 1",
    )
    service.on_report(missed)  # heard late: nothing more happens
    service.catch_up()
    assert len(kube.statuses) == 1


class RecordingKube(QuietKube):
    def __init__(self) -> None:
        super().__init__()
        self.runs: dict[str, dict[str, Any]] = {}
        self.events: list[tuple[str, str]] = []

    def create_or_get(self, obj: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        name = obj["metadata"]["name"]
        if name in self.runs:
            return self.runs[name], False
        self.runs[name] = obj
        return obj, True

    def event(self, involved: dict[str, Any], kind: str, reason: str, message: str, *_: Any) -> None:
        self.events.append((reason, message))


def test_a_retry_request_is_kept_announced_bounded_and_made_into_one_waiting_run(
    stores: tuple[RunStore, ReportStore], database_url: str
) -> None:
    runs, reports = stores
    uid = new_run(runs)
    record = runs.get(uid)
    assert record is not None
    later = datetime.datetime(2030, 1, 1, 12, 0, tzinfo=datetime.UTC)
    with psycopg.connect(database_url, autocommit=True) as listening:
        listening.execute("LISTEN " + CHANNEL)
        name = reports.request_retry(record, later, {"attempt": 2})
        assert [n.payload for n in listening.notifies(timeout=1.0, stop_after=1)] == [uid]
    assert name.startswith("pkg-retry-") and len(name) == len("pkg-retry-") + 8
    for _ in range(MAX_RETRIES_PER_RUN - 1):
        reports.request_retry(record, later, {})
    with pytest.raises(RetryLimit, match=f"at most {MAX_RETRIES_PER_RUN} retries"):
        reports.request_retry(record, later, {})
    kube = RecordingKube()
    retries = Retries(kube, runs, TOKENS)
    retries.make_for(uid)
    retries.make_for(uid)  # made once: nothing is pending any more
    assert len(kube.runs) == MAX_RETRIES_PER_RUN and runs.pending_retries(uid) == []
    made = kube.runs[name]
    assert made["metadata"]["annotations"] == {
        "ferris.io/retry-of": uid,
        "ferris.io/retry-stamp": made["metadata"]["annotations"]["ferris.io/retry-stamp"],
        "ferris.io/chain-depth": "1",  # a script's retry is the next link of its run's chain
    }
    assert made["spec"] == {
        "packageRef": {"name": "pkg"},
        "params": {"attempt": 2},
        "trigger": "Retry",
        "startAfter": "2030-01-01T12:00:00Z",
    }
    runs.finish(uid, model.SUCCEEDED, reasons.SUCCEEDED, "ok")
    with pytest.raises(RetryLimit, match="the run has ended"):
        reports.request_retry(record, later, {})


def test_a_foreign_run_under_a_retrys_name_is_not_taken_for_it(stores: tuple[RunStore, ReportStore]) -> None:
    runs, reports = stores
    uid = new_run(runs)
    record = runs.get(uid)
    assert record is not None
    name = reports.request_retry(record, datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC), {})
    kube = RecordingKube()
    kube.runs[name] = {"metadata": {"name": name}, "spec": {"packageRef": {"name": "pkg"}, "trigger": "Manual"}}
    Retries(kube, runs, TOKENS).make_for(None)
    assert kube.events[0][0] == reasons.RETRY_NAME_TAKEN and name in kube.events[0][1]
    assert runs.pending_retries(uid) == []  # reported once, not tried forever


def test_a_run_made_to_look_like_a_retry_is_not_taken_for_it_the_operators_own_is(
    stores: tuple[RunStore, ReportStore],
) -> None:
    runs, reports = stores
    uid = new_run(runs)
    record = runs.get(uid)
    assert record is not None
    name = reports.request_retry(record, datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC), {})
    [request] = runs.pending_retries(uid)
    mine = RecordingKube()
    assert Retries(mine, runs, TOKENS).make(request)
    assert Retries(mine, runs, TOKENS).make(request)  # made before a restart lost its record: taken
    made = mine.runs[name]
    # Whoever may create FerrisRuns there can copy all of it but the stamp, or the stamp of another retry.
    for stamp in ("", "fs1.k1." + "A" * 43, TOKENS.stamp("retry", "other-ns", name, str(request.id), uid)):
        squatter = RecordingKube()
        squatter.runs[name] = {
            **made,
            "metadata": {
                **made["metadata"],
                "annotations": {"ferris.io/retry-of": uid, "ferris.io/retry-stamp": stamp},
            },
        }
        assert not Retries(squatter, runs, TOKENS).make(request), stamp
        assert squatter.events[0][0] == reasons.RETRY_NAME_TAKEN
    other_key = RunTokens({"k1": b"\x02" * 32}, "k1")  # another operator's key, the same key id
    assert not Retries(mine, runs, other_key).make(request)


def test_reports_from_many_runners_are_announced_in_few_notifications_naming_each_run(
    pool: ConnectionPool, database_url: str
) -> None:
    """Eight runners report 40 steps each at once: the announcer sends a handful of
    notifications (one per channel per interval), never one per report, and every run is named."""
    announcer = CoalescingAnnouncer(pool, interval=0.05)
    announcer.start()
    runs, reports = RunStore(pool), ReportStore(pool, announcer.announce)
    uids = [new_run(runs, steps=40) for _ in range(8)]
    with psycopg.connect(database_url, autocommit=True) as listening:
        listening.execute("LISTEN " + CHANNEL)

        def runner(uid: str) -> None:
            for idx in range(40):
                step(reports, uid, idx, model.STEP_SUCCEEDED)

        threads = [threading.Thread(target=runner, args=(uid,)) for uid in uids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        announcer.stop()
        heard = [n.payload for n in listening.notifies(timeout=1.0)]
    named = {uid for text in heard for uid in (items_of(text) or [])}
    assert named == set(uids), heard
    assert len(heard) == announcer.sent < 320 / 4, f"{len(heard)} notifications for 320 reports"


def test_a_payload_too_long_for_postgresql_says_look_at_everything() -> None:
    few = [f"run-{i:04d}" for i in range(3)]
    assert items_of(payload(few)) == few and items_of(payload(few + few)) == few
    many = [f"0f8e2b1c-{i:04d}-4a8f-9c1e-5d7b3a2f1e0d" for i in range(400)]  # 400 uids: 15,200 bytes
    assert payload(many) == EVERYTHING and items_of(EVERYTHING) is None


def test_reports_whose_notifications_were_all_lost_are_published_by_the_next_look(
    pool: ConnectionPool, taken_up: tuple[Reports, QuietKube]
) -> None:
    """The server stopped between its commits and their notification: nothing was announced.
    The operator's look every few seconds (report_catch_up) publishes every report all the same."""
    runs, deaf = RunStore(pool), ReportStore(pool, lambda channel, item: None)
    service, kube = taken_up
    uids = [new_run(runs) for _ in range(5)]
    for uid in uids:
        step(deaf, uid, 0, model.STEP_SUCCEEDED)
        step(deaf, uid, 1, model.STEP_RUNNING)
    assert {r.uid for r in runs.unpublished()} >= set(uids)
    service.catch_up()
    assert not {r.uid for r in runs.unpublished()} & set(uids)
    assert len(kube.statuses) >= len(uids) and all(s["phase"] == model.RUNNING for s in kube.statuses)
