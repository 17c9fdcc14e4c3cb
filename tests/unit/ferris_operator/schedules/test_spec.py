"""A package's spec.schedule as the scheduler reads it: every field reaches the decision."""

from __future__ import annotations

import datetime

from ferris_operator.schedules.due import CATCH_UP
from ferris_operator.schedules.spec import schedule_of
from tests.unit.ferris_operator.schedules.test_service import T0, last_status, made, package, said, world


def test_starting_deadline_seconds_reaches_the_decision_and_the_missed_event() -> None:
    spec = {"crons": ["0 * * * *"], "startingDeadlineSeconds": 600, "missed": CATCH_UP, "maxCatchUp": 3}
    read = schedule_of(package(spec)["spec"])
    assert read is not None and read.schedule.starting_deadline == datetime.timedelta(seconds=600)
    assert read.schedule.max_catch_up == 3
    # Down for 3 h 20 min: the three latest hours are within the catch-up limit, but only a
    # time no older than 600 s may still start; it is 20 min past the latest.
    scheduler, kube, _, clock = world(T0)
    scheduler.observe(package(spec, {"schedule": {"decidedUntil": "2026-11-30T10:00:20Z"}}))
    clock.advance(hours=3, minutes=20)
    scheduler.tick()
    assert made(kube) == [] and last_status(kube)["missedCount"] == 3
    assert any("startingDeadlineSeconds 600" in message for _, message in said(kube)), said(kube)
