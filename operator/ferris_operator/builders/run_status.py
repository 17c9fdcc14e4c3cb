"""Pure builder of FerrisRun.status from what PostgreSQL holds about the run. The time comes in
as ``now``: nothing here reads the clock."""

from __future__ import annotations

import datetime
from typing import Any

from ferris_operator import model, reasons
from ferris_operator.records import RunRecord, StepRecord

IN_PROGRESS_REASON = {model.PENDING: reasons.PENDING, model.RUNNING: reasons.RUNNING}
Conditions = list[dict[str, Any]] | None


def _ts(moment: datetime.datetime | None) -> str | None:
    return model.timestamp(moment) if moment else None


def step_status(step: StepRecord) -> dict[str, Any]:
    result: dict[str, Any] = {"name": step.name, "phase": step.phase}
    if step.exit_code is not None:
        result["exitCode"] = step.exit_code
    if step.started_at:
        result["startedAt"] = _ts(step.started_at)
    if step.finished_at:
        result["finishedAt"] = _ts(step.finished_at)
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
) -> list[dict[str, Any]]:
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
) -> dict[str, Any]:
    done = sum(1 for s in steps if s.phase == model.STEP_SUCCEEDED)
    status: dict[str, Any] = {
        "phase": record.phase,
        "progress": f"{done}/{len(steps)}",
        "steps": [step_status(s) for s in steps],
        "packageGeneration": record.package_generation,
        "packageUID": record.package_uid,
        "secretsVersion": record.secrets_version,
        "jobName": model.job_name(record.name) if record.package_uid else None,
        "startTime": _ts(record.started_at),
        "completionTime": _ts(record.finished_at),
        "observedGeneration": generation,
    }
    if record.max_attempts > 1 or record.attempt > 1:
        status.update(
            attempt=record.attempt,
            maxAttempts=record.max_attempts,
            attempts=f"{record.attempt}/{record.max_attempts}",
        )
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
    return {k: v for k, v in status.items() if v is not None}


def failed_before_start(
    phase: str,
    reason: str,
    message: str,
    generation: int | None,
    previous_conditions: Conditions,
    *,
    now: datetime.datetime,
) -> dict[str, Any]:
    """Status of a run that never got a Job (missing package, package not ready...)."""
    return {
        "phase": phase,
        "progress": "0/0",
        "completionTime": model.timestamp(now),
        "observedGeneration": generation,
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


def waiting_on(
    reason: str, message: str, generation: int | None, previous_conditions: Conditions, *, now: datetime.datetime
) -> dict[str, Any]:
    """A run that waits for something that will heal (the database, the package's secrets)."""
    return {
        "phase": model.PENDING,
        "observedGeneration": generation,
        "conditions": _conditions(
            previous_conditions, generation, reason, message, now, Succeeded=None, Ready=False, Reconciling=True
        ),
    }
