"""Pure builder of FerrisRun.status from what PostgreSQL holds about the run. The time comes in
as ``now``: nothing here reads the clock."""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from ferris_operator import model, reasons
from ferris_operator.bodies import Condition, RunStatus, Step
from ferris_operator.records import RunRecord, StepRecord

IN_PROGRESS_REASON = {model.PENDING: reasons.PENDING, model.RUNNING: reasons.RUNNING}
Conditions = Sequence[Condition] | None


def step_status(step: StepRecord) -> Step:
    result: Step = {"name": step.name, "phase": step.phase}
    if step.exit_code is not None:
        result["exitCode"] = step.exit_code
    if step.started_at:
        result["startedAt"] = model.timestamp(step.started_at)
    if step.finished_at:
        result["finishedAt"] = model.timestamp(step.finished_at)
    if step.output:
        result["outputTail"] = step.output[-model.OUTPUT_TAIL_CHARS :]
    return result


def _conditions(
    previous: Conditions,
    generation: int | None,
    reason: str,
    message: str,
    now: datetime.datetime,
    **statuses: bool | None,
) -> list[Condition]:
    """The run's conditions of the given types, all with one reason and message, merged into
    ``previous``. kstatus (and Argo CD and Flux on it) reads Reconciling=True as in progress and
    Stalled=True as failed, will not progress by itself."""
    updates = [
        model.condition(kind, status, reason, message, generation, previous, now) for kind, status in statuses.items()
    ]
    return model.merge_conditions(previous, *updates)


def run_status(
    record: RunRecord,
    steps: list[StepRecord],
    generation: int | None,
    previous_conditions: Conditions,
    *,
    now: datetime.datetime,
    waiting: tuple[str, str] | None = None,
) -> RunStatus:
    """``waiting``: the reason and message of a run still Pending for a known cause (its Job
    queued in Kueue) instead of the usual wait for the runner."""
    done = sum(1 for s in steps if s.phase == model.STEP_SUCCEEDED)
    status: RunStatus = {
        "phase": record.phase,
        "progress": f"{done}/{len(steps)}",
        "steps": [step_status(s) for s in steps],
    }
    if record.package_generation is not None:
        status["packageGeneration"] = record.package_generation
    if record.package_uid:
        status["packageUID"] = record.package_uid
        status["jobName"] = model.job_name(record.name)
    if record.secrets_version is not None:
        status["secretsVersion"] = record.secrets_version
    if record.started_at:
        status["startTime"] = model.timestamp(record.started_at)
    if record.finished_at:
        status["completionTime"] = model.timestamp(record.finished_at)
    if generation is not None:
        status["observedGeneration"] = generation
    if record.max_attempts > 1 or record.attempt > 1:
        status["attempt"], status["maxAttempts"] = record.attempt, record.max_attempts
        status["attempts"] = f"{record.attempt}/{record.max_attempts}"
        if record.retry_of:
            status["retryOf"] = record.retry_of
    if record.started_at:
        end = record.finished_at or now
        status["duration"] = model.format_duration((end - record.started_at).total_seconds())
    if record.terminal:
        ok = record.phase == model.SUCCEEDED
        status["conditions"] = _conditions(
            previous_conditions,
            generation,
            record.reason or record.phase,
            record.message or "",
            now,
            Succeeded=ok,
            Ready=ok,
            Stalled=not ok,
            Reconciling=False,
        )
    else:
        reason = IN_PROGRESS_REASON.get(record.phase, record.phase)
        message = "the run is in progress" if record.phase == model.RUNNING else "waiting for the runner to start"
        if waiting is not None and record.phase == model.PENDING:
            reason, message = waiting
        # Without Reconciling=True, kstatus would read a running run as Current.
        status["conditions"] = _conditions(
            previous_conditions,
            generation,
            reason,
            message,
            now,
            Succeeded=None,
            Ready=False,
            Stalled=False,
            Reconciling=True,
        )
    return status


def failed_before_start(
    phase: str,
    reason: str,
    message: str,
    generation: int | None,
    previous_conditions: Conditions,
    *,
    now: datetime.datetime,
) -> RunStatus:
    """Status of a run that never got a Job (missing package, package not ready...)."""
    status: RunStatus = {
        "phase": phase,
        "progress": "0/0",
        "completionTime": model.timestamp(now),
        "conditions": _conditions(
            previous_conditions,
            generation,
            reason,
            message,
            now,
            Succeeded=False,
            Ready=False,
            Stalled=True,
            Reconciling=False,
        ),
    }
    if generation is not None:
        status["observedGeneration"] = generation
    return status


def waiting_on(
    reason: str, message: str, generation: int | None, previous_conditions: Conditions, *, now: datetime.datetime
) -> RunStatus:
    """A run that waits for something that will heal (the database, the package's secrets)."""
    status: RunStatus = {
        "phase": model.PENDING,
        "conditions": _conditions(
            previous_conditions, generation, reason, message, now, Succeeded=None, Ready=False, Reconciling=True
        ),
    }
    if generation is not None:
        status["observedGeneration"] = generation
    return status
