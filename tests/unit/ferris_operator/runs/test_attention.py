"""Which FerrisRun events ask the operator to act and which body a worker gets
(runs/attention.py), and what the watches
showed of runs and Jobs (runs/sightings.py)."""

from __future__ import annotations

from typing import Any

from ferris_operator import model
from ferris_operator.runs.attention import Arrivals, needs_attention
from ferris_operator.runs.sightings import Sightings
from tests.unit.ferris_operator.fakes import completed_job, owner


def run(status: dict[str, Any] | None = None, generation: int = 1, cancel: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "metadata": {"name": "r", "namespace": "a", "uid": "u", "generation": generation},
        "spec": {"packageRef": {"name": "p"}, **({"cancel": True} if cancel else {})},
    }
    if status is not None:
        body["status"] = status
    return body


def test_a_new_run_or_one_waiting_to_start_needs_attention() -> None:
    assert needs_attention(run())
    assert needs_attention(run({"phase": model.PENDING, "conditions": []}))


def test_a_started_run_whose_status_is_current_needs_none_until_its_spec_changes() -> None:
    started = {"phase": model.RUNNING, "jobName": "r-run", "observedGeneration": 1}
    assert not needs_attention(run(started))
    assert needs_attention(run(started, generation=2))
    assert needs_attention(run(started, cancel=True))


def test_an_ended_run_needs_nothing_even_when_asked_to_cancel() -> None:
    for phase in model.TERMINAL:
        assert not needs_attention(run({"phase": phase}, cancel=True))


def test_a_worker_gets_the_newest_body_of_a_run_once_and_none_that_no_longer_asks() -> None:
    arrivals = Arrivals()
    assert arrivals.offer(run()) and arrivals.offer(run(generation=2))
    assert arrivals.take("u") == run(generation=2) and arrivals.take("u") is None and len(arrivals) == 0
    assert arrivals.offer(run()) is True
    started = run({"phase": model.RUNNING, "jobName": "r-run", "observedGeneration": 1})
    assert arrivals.offer(started) is False  # replaces the waiting body: the run started meanwhile
    assert arrivals.take("u") is None


def test_a_body_that_asks_for_nothing_is_not_kept_and_a_deleted_run_is_dropped() -> None:
    arrivals = Arrivals()
    assert arrivals.offer(run({"phase": model.SUCCEEDED})) is False and len(arrivals) == 0
    arrivals.offer(run(cancel=True))
    arrivals.drop("u")
    assert arrivals.take("u") is None


def test_sightings_keep_runs_that_have_not_ended_and_each_runs_job() -> None:
    seen = Sightings()
    seen.run_seen(run({"phase": model.RUNNING}))
    assert seen.has_run("u")
    seen.run_seen(run({"phase": model.SUCCEEDED, "completionTime": "2026-11-30T10:00:00Z"}))
    assert not seen.has_run("u") and [r.name for r in seen.finished_runs()[("a", "p")]] == ["r"]
    seen.run_seen(run())
    seen.run_seen(run(), deleted=True)
    assert not seen.has_run("u")
    job = completed_job("a", "r-run", owner("FerrisRun", "u"), labels={model.LABEL_RUN_UID: "u"})
    job["spec"] = {"activeDeadlineSeconds": 60, "template": {"spec": {"containers": [{"name": "big"}]}}}
    seen.job_seen(job)
    summary = seen.job_of("a", "r-run")
    assert summary is not None and summary["spec"] == {"activeDeadlineSeconds": 60}
    assert summary["status"]["conditions"] == job["status"]["conditions"]
    older = {**job, "metadata": {**job["metadata"], "uid": "an-older-job"}}
    seen.job_seen(older, deleted=True)  # a Job deleted after its successor was seen: the successor stays
    assert seen.job_of("a", "r-run") is not None
    seen.job_seen(job, deleted=True)
    assert seen.job_of("a", "r-run") is None and seen.sizes() == (0, 0, 0)


def test_a_job_that_claims_no_run_is_not_kept() -> None:
    seen = Sightings()
    seen.job_seen(completed_job("a", "x", labels={model.LABEL_RUN_UID: "u"}))
    assert seen.job_of("a", "r-run") is None
