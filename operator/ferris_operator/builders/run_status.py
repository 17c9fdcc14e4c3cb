"""Pure builder of FerrisRun.status from what PostgreSQL holds about the run."""

from __future__ import annotations

import datetime
from typing import Any

from ferris_operator import model, reasons
from ferris_operator.records import RunRecord, StepRecord

IN_PROGRESS_REASON = {model.PENDING: reasons.PENDING, model.RUNNING: reasons.RUNNING}


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


def run_status(
    record: RunRecord, steps: list[StepRecord], generation: int | None, previous_conditions: list[dict[str, Any]] | None
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
    if record.started_at:
        end = record.finished_at or model.utcnow()
        status["duration"] = model.format_duration((end - record.started_at).total_seconds())
    if record.terminal:
        ok = record.phase == model.SUCCEEDED
        reason = record.reason or record.phase
        message = record.message or ""
        succeeded = model.condition("Succeeded", ok, reason, message, generation, previous_conditions)
        ready = model.condition("Ready", ok, reason, message, generation, previous_conditions)
        # kstatus and Flux read Stalled=True as "failed, will not progress by itself".
        stalled = model.condition("Stalled", not ok, reason, message, generation, previous_conditions)
        reconciling = model.condition("Reconciling", False, reason, message, generation, previous_conditions)
    else:
        reason = IN_PROGRESS_REASON.get(record.phase, record.phase)
        message = "the run is in progress" if record.phase == model.RUNNING else "waiting for the runner to start"
        succeeded = model.condition("Succeeded", None, reason, message, generation, previous_conditions)
        ready = model.condition("Ready", False, reason, message, generation, previous_conditions)
        stalled = model.condition("Stalled", False, reason, message, generation, previous_conditions)
        # kstatus reads Reconciling=True as "in progress"; without it a running run reads Current.
        reconciling = model.condition("Reconciling", True, reason, message, generation, previous_conditions)
    status["conditions"] = model.merge_conditions(previous_conditions, succeeded, ready, stalled, reconciling)
    return {k: v for k, v in status.items() if v is not None}


def failed_before_start(
    phase: str, reason: str, message: str, generation: int | None, previous_conditions: list[dict[str, Any]] | None
) -> dict[str, Any]:
    """Status of a run that never got a Job (missing package, package not ready...)."""
    now = model.timestamp()
    return {
        "phase": phase,
        "progress": "0/0",
        "completionTime": now,
        "observedGeneration": generation,
        "conditions": model.merge_conditions(
            previous_conditions,
            model.condition("Succeeded", False, reason, message, generation, previous_conditions),
            model.condition("Ready", False, reason, message, generation, previous_conditions),
            model.condition("Stalled", True, reason, message, generation, previous_conditions),
            model.condition("Reconciling", False, reason, message, generation, previous_conditions),
        ),
    }


def waiting_on(
    reason: str, message: str, generation: int | None, previous_conditions: list[dict[str, Any]] | None
) -> dict[str, Any]:
    """A run that waits for something that will heal (the database, the package's secrets)."""
    return {
        "phase": model.PENDING,
        "observedGeneration": generation,
        "conditions": model.merge_conditions(
            previous_conditions,
            model.condition("Succeeded", None, reason, message, generation, previous_conditions),
            model.condition("Ready", False, reason, message, generation, previous_conditions),
            model.condition("Reconciling", True, reason, message, generation, previous_conditions),
        ),
    }
