"""How a run's Job ended, decided from the facts gathered about it: the Job (its ended
condition, its timeout, its memory limit), the terminations of its own pods' containers and the
steps the runner reported. Pure: ``runs/follow.py`` gathers, this decides, the outcome records.

The order matters and is the table's: a deadline is a timeout; a container the kernel killed at
its limit is out of memory; a step that failed is the step's failure; a runner killed by a
signal before it reported its end is lost; anything else the runner's own failure. A Job that
completed succeeded only when every step reported it ran or was skipped."""

from __future__ import annotations

import signal
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ferris_operator import model, reasons
from ferris_operator.records import StepRecord

SIGNAL_EXIT = 128  # a container killed by signal N exits with 128 + N
CONTAINER_OOM_KILLED = "OOMKilled"  # a terminated container's reason when the kernel killed it at its limit


@dataclass(frozen=True)
class Termination:
    """An ended container of one of the Job's own pods."""

    exit_code: int | None
    message: str
    reason: str | None


@dataclass(frozen=True)
class Verdict:
    phase: str
    reason: str
    message: str


def ended(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The Job's ``Complete`` or ``Failed`` condition that is true, by type (empty: still running)."""
    conditions = (job.get("status") or {}).get("conditions") or []
    return {c["type"]: c for c in conditions if c.get("status") == "True" and c.get("type") in ("Complete", "Failed")}


def needs_terminations(job: dict[str, Any]) -> bool:
    """Whether the verdict reads the Job's pods: only for a failure that is not its deadline."""
    failed = ended(job).get("Failed")
    return failed is not None and failed.get("reason") != "DeadlineExceeded"


def signal_name(code: int) -> str:
    try:
        return signal.Signals(code - SIGNAL_EXIT).name
    except ValueError:
        return f"signal {code - SIGNAL_EXIT}"


def job_verdict(
    job: dict[str, Any], terminations: Sequence[Termination], steps: Sequence[StepRecord]
) -> Verdict | None:
    """How the run ended, or None while its Job has not."""
    conditions = ended(job)
    if "Failed" in conditions:
        return _failed(job, conditions["Failed"], terminations, steps)
    if "Complete" in conditions:
        return _completed(steps)
    return None


def _step_failed(steps: Sequence[StepRecord]) -> Verdict | None:
    failed = next((s for s in steps if s.phase == model.STEP_FAILED), None)
    if failed is None:
        return None
    return Verdict(model.FAILED, reasons.STEP_FAILED, f"step {failed.name} exited with code {failed.exit_code}")


def _where(steps: Sequence[StepRecord], phases: tuple[str, ...]) -> str:
    running = next((s for s in steps if s.phase in phases), None)
    return f"during step {running.name}" if running else "between steps"


def _failed(
    job: dict[str, Any], condition: dict[str, Any], terminations: Sequence[Termination], steps: Sequence[StepRecord]
) -> Verdict:
    if condition.get("reason") == "DeadlineExceeded":
        timeout = job["spec"].get("activeDeadlineSeconds")
        return Verdict(model.FAILED, reasons.TIMEOUT, f"the run exceeded its timeout of {timeout}s and was stopped")
    if any(t.reason == CONTAINER_OOM_KILLED for t in terminations):
        containers = ((job["spec"].get("template") or {}).get("spec") or {}).get("containers") or [{}]
        limit = ((containers[0].get("resources") or {}).get("limits") or {}).get("memory", "?")
        where = _where(steps, (model.STEP_RUNNING, model.STEP_FAILED))
        return Verdict(
            model.FAILED,
            reasons.OUT_OF_MEMORY,
            f"the runner's container was killed at its memory limit of {limit} {where} (OOMKilled): "
            "raise spec.runner.resources.limits.memory, or make the step use less",
        )
    if (failed := _step_failed(steps)) is not None:
        return failed
    code = next((t.exit_code for t in terminations if t.exit_code is not None), None)
    if code is not None and code > SIGNAL_EXIT:
        where = _where(steps, (model.STEP_RUNNING,))
        return Verdict(
            model.FAILED,
            reasons.RUNNER_LOST,
            f"the runner was killed {where} without reporting its end (exit code {code}, {signal_name(code)}): "
            "its process or its node was lost (what the step printed is in the pod's log while the pod lives)",
        )
    said = next((f"exit code {t.exit_code}: {t.message.strip()[:512]}" for t in terminations if t.message), "")
    detail = said or condition.get("message", "")
    return Verdict(model.FAILED, reasons.RUNNER_FAILED, f"the runner failed: {detail}".strip())


def _completed(steps: Sequence[StepRecord]) -> Verdict:
    if (failed := _step_failed(steps)) is not None:
        return failed
    unfinished = [s for s in steps if s.phase not in (model.STEP_SUCCEEDED, model.STEP_SKIPPED)]
    if unfinished:  # the runner exited 0 without reporting every step: its reports cannot be trusted
        return Verdict(
            model.FAILED, reasons.RUNNER_FAILED, f"the runner exited without reporting step {unfinished[0].name}"
        )
    return Verdict(model.SUCCEEDED, reasons.SUCCEEDED, f"all {len(steps)} steps succeeded")
