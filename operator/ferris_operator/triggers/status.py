"""A FerrisTrigger's conditions: Ready when its filter and targets can be used (Listening, or
Suspended), not Ready with ``InvalidTrigger`` naming the field. Pure: the clock is passed in."""

from __future__ import annotations

import datetime

from ferris_operator import model, reasons
from ferris_operator.bodies import TriggerBody, TriggerStatus
from ferris_operator.problems import Problem
from ferris_operator.triggers.match import Trigger


def trigger_status(body: TriggerBody, read: Trigger | Problem, now: datetime.datetime) -> TriggerStatus:
    """The status fields the trigger's handler owns (its counts are the router's)."""
    generation = body["metadata"].get("generation")
    previous = (body.get("status") or {}).get("conditions")
    if isinstance(read, Problem):
        ready = model.condition("Ready", False, read.reason, read.message, generation, previous, now)
    elif read.suspended:
        message = "spec.suspend is set: matching events are recorded and start no run"
        ready = model.condition("Ready", True, reasons.TRIGGER_SUSPENDED, message, generation, previous, now)
    else:
        packages = ", ".join(t.package for t in read.targets)
        message = f"matching events start runs of {packages}"
        ready = model.condition("Ready", True, reasons.LISTENING, message, generation, previous, now)
    status: TriggerStatus = {"conditions": model.merge_conditions(previous, ready)}
    if generation is not None:
        status["observedGeneration"] = generation
    return status
