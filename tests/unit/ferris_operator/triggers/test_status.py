"""A FerrisTrigger's Ready condition: Listening, Suspended, or the problem naming the field."""

from __future__ import annotations

import datetime
from typing import Any

from ferris_operator import reasons
from ferris_operator.problems import Problem
from ferris_operator.triggers.match import trigger_of
from ferris_operator.triggers.status import trigger_status

NOW = datetime.datetime(2026, 12, 7, 12, 0, tzinfo=datetime.UTC)


def body(**spec: Any) -> dict[str, Any]:
    spec = {"filter": {"type": "com.example.order"}, "targets": [{"packageRef": {"name": "load"}}], **spec}
    return {"metadata": {"namespace": "team", "name": "orders", "uid": "t-1", "generation": 3}, "spec": spec}


def ready(status: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == "Ready")


def test_a_suspended_trigger_says_so_and_stays_ready() -> None:
    status = trigger_status(body(suspend=True), trigger_of(body(suspend=True)), NOW)
    condition = ready(status)
    assert (condition["status"], condition["reason"]) == ("True", reasons.TRIGGER_SUSPENDED)
    assert "start no run" in condition["message"] and status["observedGeneration"] == 3


def test_a_listening_trigger_names_its_packages_and_a_bad_one_its_problem() -> None:
    listening = ready(trigger_status(body(), trigger_of(body()), NOW))
    assert listening["reason"] == reasons.LISTENING and "runs of load" in listening["message"]
    problem = Problem(reasons.INVALID_TRIGGER, "spec.targets: give at least one target with a packageRef")
    condition = ready(trigger_status(body(), problem, NOW))
    assert (condition["status"], condition["reason"]) == ("False", reasons.INVALID_TRIGGER)
