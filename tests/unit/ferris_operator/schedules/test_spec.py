"""A package's spec.schedule as the scheduler reads it: every field reaches the decision."""

from __future__ import annotations

import datetime

import pytest

from ferris_operator import reasons
from ferris_operator.problems import Problem
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


def test_skip_times_are_read_in_utc_and_a_bad_one_names_its_field_and_the_form() -> None:
    read = schedule_of(
        package({"crons": ["@hourly"], "skip": ["2026-12-24T10:00:00+01:00"], "jitterSeconds": 9})["spec"]
    )
    assert read is not None and read.jitter_seconds == 9
    assert read.schedule.skip == frozenset({datetime.datetime(2026, 12, 24, 9, 0, tzinfo=datetime.UTC)})
    for bad in ("tomorrow", "2026-12-24T09:00:00"):  # no zone: which 09:00?
        with pytest.raises(Problem) as refused:
            schedule_of(package({"crons": ["@hourly"], "skip": ["2026-12-24T09:00:00Z", bad]})["spec"])
        assert refused.value.reason == reasons.INVALID_SCHEDULE
        assert refused.value.message.startswith(f"spec.schedule.skip[1]: {bad!r} is not an RFC 3339 time with a zone")
