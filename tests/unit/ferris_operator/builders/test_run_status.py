"""FerrisRun.status from what PostgreSQL holds: phases, progress, kstatus conditions, and time
that comes in as ``now``."""

from __future__ import annotations

import dataclasses
import datetime
import re
from pathlib import Path
from typing import Any

from ferris_operator import model
from ferris_operator.builders import run_status
from ferris_operator.records import RunRecord, StepRecord

T0 = datetime.datetime(2026, 3, 1, 12, 0, 0, tzinfo=datetime.UTC)
NOW = T0 + datetime.timedelta(seconds=75)
BUILDERS = Path(__file__).resolve().parents[4] / "operator" / "ferris_operator" / "builders"


def run(phase: str, reason: str | None = None, message: str | None = None, finished: bool = False) -> RunRecord:
    end = NOW if finished else None
    return RunRecord("u", "team", "nightly-1", "nightly", "puid", 3, 2, phase, reason, message, "d", T0, T0, end)


def steps(*phases: str) -> list[StepRecord]:
    return [StepRecord(i, f"s{i}.py", phase, None, None, None, f"out {i}") for i, phase in enumerate(phases)]


def by_type(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


def test_a_running_run_is_in_progress_for_kstatus_with_its_progress_and_duration() -> None:
    status = run_status.run_status(run(model.RUNNING), steps("Succeeded", "Running"), 1, None, now=NOW)
    assert status["phase"] == "Running" and status["progress"] == "1/2" and status["duration"] == "1m15s"
    conditions = by_type(status)
    assert conditions["Succeeded"]["status"] == "Unknown" and conditions["Reconciling"]["status"] == "True"
    assert conditions["Stalled"]["status"] == "False" and conditions["Ready"]["reason"] == "Running"
    assert {c["lastTransitionTime"] for c in status["conditions"]} == {"2026-03-01T12:01:15Z"}
    assert status["jobName"] == "nightly-1-run" and status["secretsVersion"] == 2


def test_a_queued_run_says_where_it_waits_until_its_runner_reports() -> None:
    why = ("Queued", "waiting for Kueue to admit it: queue ferris, priority 9 (ferris-slow)")
    queued = by_type(run_status.run_status(run(model.PENDING), steps("Pending"), 1, None, now=NOW, waiting=why))
    assert (queued["Ready"]["reason"], queued["Ready"]["message"]) == why
    assert queued["Reconciling"]["status"] == "True" and queued["Stalled"]["status"] == "False"
    running = by_type(run_status.run_status(run(model.RUNNING), steps("Running"), 1, None, now=NOW, waiting=why))
    assert running["Ready"]["reason"] == "Running", "a run its runner reported on is not queued any more"


def test_a_failed_run_is_stalled_with_its_reason_and_a_succeeded_one_is_ready() -> None:
    failed = run_status.run_status(
        run(model.FAILED, "StepFailed", "step s1.py exited with code 2", finished=True),
        steps("Succeeded", "Failed"),
        1,
        None,
        now=NOW,
    )
    conditions = by_type(failed)
    assert conditions["Stalled"]["status"] == "True" and conditions["Succeeded"]["status"] == "False"
    assert conditions["Ready"]["reason"] == "StepFailed" and "exited with code 2" in conditions["Ready"]["message"]
    assert conditions["Reconciling"]["status"] == "False" and failed["completionTime"] == "2026-03-01T12:01:15Z"
    done = by_type(
        run_status.run_status(run(model.SUCCEEDED, "Succeeded", "", True), steps("Succeeded"), 1, None, now=NOW)
    )
    assert done["Ready"]["status"] == "True" and done["Stalled"]["status"] == "False"


def test_transition_times_hold_while_a_condition_keeps_its_status() -> None:
    first = run_status.run_status(run(model.PENDING), steps("Pending"), 1, None, now=T0)
    later = run_status.run_status(run(model.RUNNING), steps("Running"), 1, first["conditions"], now=NOW)
    assert by_type(later)["Reconciling"]["lastTransitionTime"] == "2026-03-01T12:00:00Z"  # True both times
    assert by_type(later)["Ready"]["reason"] == "Running"


def test_step_output_in_status_is_the_tail_only() -> None:
    long = [StepRecord(0, "a.py", "Succeeded", 0, T0, NOW, "x" * 5000 + "END")]
    [step] = run_status.run_status(run(model.RUNNING), long, 1, None, now=NOW)["steps"]
    assert len(step["outputTail"]) == model.OUTPUT_TAIL_CHARS and step["outputTail"].endswith("END")
    assert step["exitCode"] == 0 and step["finishedAt"] == "2026-03-01T12:01:15Z"


def test_a_run_that_never_started_and_a_run_that_waits() -> None:
    failed = run_status.failed_before_start("Failed", "PackageNotFound", "no package p", 1, None, now=NOW)
    assert failed["progress"] == "0/0" and by_type(failed)["Stalled"]["status"] == "True"
    waiting = run_status.waiting_on("PackageNotReconciled", "waiting", 1, None, now=NOW)
    assert waiting["phase"] == "Pending" and by_type(waiting)["Reconciling"]["status"] == "True"
    assert "Stalled" not in by_type(waiting)


def test_no_builder_reads_the_clock() -> None:
    source = "\n".join(path.read_text() for path in BUILDERS.glob("*.py"))
    assert not re.search(r"utcnow\(|datetime\.now\(|time\.time\(|timestamp\(\)", source)


def test_a_run_of_a_chain_of_attempts_says_which_it_is_and_a_run_alone_says_nothing() -> None:
    alone = run_status.run_status(run(model.RUNNING), steps("Running"), 1, None, now=NOW)
    assert not {"attempt", "maxAttempts", "attempts", "retryOf"} & set(alone)
    first = dataclasses.replace(run(model.RUNNING), max_attempts=3)
    status = run_status.run_status(first, steps("Running"), 1, None, now=NOW)
    assert (status["attempt"], status["maxAttempts"], status["attempts"]) == (1, 3, "1/3") and "retryOf" not in status
    second = dataclasses.replace(first, name="nightly-1-attempt-2", attempt=2, retry_of="nightly-1")
    status = run_status.run_status(second, steps("Running"), 1, None, now=NOW)
    assert (status["attempts"], status["retryOf"]) == ("2/3", "nightly-1")
