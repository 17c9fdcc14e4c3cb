"""How a run's Job ended, as a table: the Job's condition, its containers' terminations and the
reported steps in; the run's phase, reason and message out (runs/verdict.py, pure)."""

from __future__ import annotations

from typing import Any

import pytest

from ferris_operator import model, reasons
from ferris_operator.records import StepRecord
from ferris_operator.runs.verdict import Termination, Verdict, job_verdict, needs_terminations


def job(condition: str | None, reason: str = "", message: str = "") -> dict[str, Any]:
    conditions = [{"type": condition, "status": "True", "reason": reason, "message": message}] if condition else []
    container = {"resources": {"limits": {"memory": "64Mi"}}}
    spec = {"activeDeadlineSeconds": 30, "template": {"spec": {"containers": [container]}}}
    return {"spec": spec, "status": {"conditions": conditions}}


def steps(*phases: tuple[str, str, int | None]) -> list[StepRecord]:
    return [StepRecord(i, name, phase, code, None, None, "") for i, (name, phase, code) in enumerate(phases)]


OK, RUN, FAIL, SKIP = model.STEP_SUCCEEDED, model.STEP_RUNNING, model.STEP_FAILED, model.STEP_SKIPPED
OOM = Termination(137, "", "OOMKilled")
KILLED = Termination(137, "", "Error")
SAID = Termination(2, "bundle does not open\n", "Error")

TABLE = [
    # (Job, terminations, steps) -> (phase, reason, words of the message)
    ("still running", job(None), [], steps(("a", RUN, None)), None),
    ("timeout", job("Failed", "DeadlineExceeded"), [OOM], steps(("a", RUN, None)),
     (model.FAILED, reasons.TIMEOUT, "timeout of 30s")),
    ("out of memory, during a step", job("Failed", "BackoffLimit"), [OOM], steps(("a", OK, 0), ("b", RUN, None)),
     (model.FAILED, reasons.OUT_OF_MEMORY, "memory limit of 64Mi during step b (OOMKilled)")),
    ("a failed step", job("Failed"), [Termination(1, "", "Error")], steps(("a", FAIL, 3)),
     (model.FAILED, reasons.STEP_FAILED, "step a exited with code 3")),
    ("killed by a signal before its end", job("Failed"), [KILLED], steps(("a", RUN, None)),
     (model.FAILED, reasons.RUNNER_LOST, "killed during step a without reporting its end (exit code 137, SIGKILL)")),
    ("killed between steps", job("Failed"), [KILLED], steps(("a", OK, 0)),
     (model.FAILED, reasons.RUNNER_LOST, "killed between steps")),
    ("the runner's own words", job("Failed", message="BackoffLimitExceeded"), [SAID], [],
     (model.FAILED, reasons.RUNNER_FAILED, "the runner failed: exit code 2: bundle does not open")),
    ("the Job's words when the runner said none", job("Failed", message="Job has reached the limit"), [], [],
     (model.FAILED, reasons.RUNNER_FAILED, "the runner failed: Job has reached the limit")),
    ("complete, every step ran", job("Complete"), [], steps(("a", OK, 0), ("b", SKIP, None)),
     (model.SUCCEEDED, reasons.SUCCEEDED, "all 2 steps succeeded")),
    ("complete with a failed step", job("Complete"), [], steps(("a", FAIL, 1)),
     (model.FAILED, reasons.STEP_FAILED, "step a exited with code 1")),
    ("complete without every step reported", job("Complete"), [], steps(("a", OK, 0), ("b", RUN, None)),
     (model.FAILED, reasons.RUNNER_FAILED, "exited without reporting step b")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("job_", "terminations", "reported", "expected"), [row[1:] for row in TABLE], ids=[row[0] for row in TABLE]
)
def test_how_a_job_ended(
    job_: dict[str, Any], terminations: list[Termination], reported: list[StepRecord], expected: Any
) -> None:
    decided = job_verdict(job_, terminations, reported)
    if expected is None:
        assert decided is None
        return
    phase, reason, words = expected
    assert isinstance(decided, Verdict) and (decided.phase, decided.reason) == (phase, reason), decided
    assert words in decided.message, decided.message


@pytest.mark.parametrize(
    ("job_", "reads_pods"),
    [(job(None), False), (job("Complete"), False), (job("Failed", "DeadlineExceeded"), False), (job("Failed"), True)],
    ids=["running", "complete", "timeout", "failed"],
)
def test_the_pods_are_read_only_for_a_failure_that_is_not_the_deadline(job_: dict[str, Any], reads_pods: bool) -> None:
    assert needs_terminations(job_) is reads_pods
