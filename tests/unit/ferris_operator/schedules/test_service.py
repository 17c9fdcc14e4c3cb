"""The scheduler with an injected clock and fakes of Kubernetes and history: a new schedule
starts now, each scheduled time makes one run (named by it) whatever restarts happen, misses
are Events, suspension counts misses without runs, and a foreign object never stands in for
a scheduled run."""

from __future__ import annotations

import datetime
from typing import Any

from ferris_operator import model, reasons
from ferris_operator.schedules.due import offset
from ferris_operator.schedules.service import Scheduler
from tests.unit.ferris_operator.fakes import PROOF
from tests.unit.world import Clock, FakeKube

UTC = datetime.UTC
T0 = datetime.datetime(2026, 11, 30, 10, 0, 20, tzinfo=UTC)


def made(kube: FakeKube) -> list[str]:
    """The FerrisRuns the scheduler created, by name."""
    return [o["metadata"]["name"] for o in kube.created if o["kind"] == "FerrisRun"]


def run_named(kube: FakeKube, name: str) -> dict[str, Any]:
    return kube.objects[("FerrisRun", "team", name)]


def plant(kube: FakeKube, name: str, obj: dict[str, Any]) -> None:
    """A FerrisRun someone else made under ``name``."""
    kube.put("FerrisRun", {**obj, "metadata": {"namespace": "team", "name": name, **obj.get("metadata", {})}})


def said(kube: FakeKube) -> list[tuple[str, str]]:
    return [(e.reason, e.message) for e in kube.events]


class FakeHistory:
    def __init__(self) -> None:
        self.names: set[str] = set()

    def known(self, namespace: str, name: str, trigger: str) -> bool:
        return trigger == model.TRIGGER_SCHEDULE and name in self.names


def package(schedule: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "team", "name": "nightly", "uid": "puid"},
        "spec": {"scripts": [{"name": "a.py", "content": "print(1)"}], "schedule": schedule},
        "status": status or {},
    }


def world(start: datetime.datetime = T0) -> tuple[Scheduler, FakeKube, FakeHistory, Clock]:
    kube, history, clock = FakeKube(), FakeHistory(), Clock(start)
    return Scheduler(kube, history, PROOF, clock), kube, history, clock  # type: ignore[arg-type]  # fakes


def last_status(kube: FakeKube) -> dict[str, Any]:
    schedule: dict[str, Any] = kube.statuses[-1][3]["schedule"]
    return schedule


def test_a_new_schedule_starts_now_and_each_time_makes_one_run_named_by_it() -> None:
    scheduler, kube, _, clock = world()
    scheduler.observe(package({"crons": ["* * * * *"], "params": {"day": "today"}}))
    assert last_status(kube) == {"decidedUntil": "2026-11-30T10:00:20Z", "nextScheduleTime": "2026-11-30T10:01:00Z"}
    scheduler.tick()
    assert made(kube) == []  # nothing before the schedule existed is due
    clock.advance(seconds=41)
    scheduler.tick()
    scheduler.tick()  # a second tick within the same minute makes nothing more
    assert made(kube) == ["nightly-202611301001"]
    run = run_named(kube, "nightly-202611301001")
    assert run["metadata"]["namespace"] == "team"
    assert run["metadata"]["labels"][model.LABEL_TRIGGER] == "Schedule"
    assert run["spec"] == {
        "packageRef": {"name": "nightly"},
        "params": {"day": "today"},
        "trigger": "Schedule",
        "scheduledTime": "2026-11-30T10:01:00Z",
    }
    assert last_status(kube) == {
        "decidedUntil": "2026-11-30T10:01:00Z",
        "nextScheduleTime": "2026-11-30T10:02:00Z",
        "missedCount": 0,
        "lastScheduleTime": "2026-11-30T10:01:00Z",
        "lastScheduledRun": "nightly-202611301001",
    }


def test_a_restart_in_the_middle_of_a_minute_makes_no_second_run() -> None:
    """The operator made the 10:01 run, then died before it wrote the cursor."""
    first, kube, history, clock = world(T0 + datetime.timedelta(seconds=41))
    stale = {"schedule": {"decidedUntil": "2026-11-30T10:00:20Z"}}
    first.observe(package({"crons": ["* * * * *"]}, stale))
    first.tick()
    assert made(kube) == ["nightly-202611301001"]
    # A new operator reads the old cursor from the package's status, in the same minute.
    second = Scheduler(kube, history, PROOF, clock)  # type: ignore[arg-type]
    clock.advance(seconds=10)
    second.observe(package({"crons": ["* * * * *"]}, stale))
    second.tick()
    assert made(kube) == ["nightly-202611301001"]
    # And when the run is gone from the cluster but kept in history, it is not made again.
    del kube.objects[("FerrisRun", "team", "nightly-202611301001")]
    history.names.add("nightly-202611301001")
    third = Scheduler(kube, history, PROOF, clock)  # type: ignore[arg-type]
    third.observe(package({"crons": ["* * * * *"]}, stale))
    third.tick()
    assert made(kube) == ["nightly-202611301001"]


def test_after_downtime_run_latest_makes_one_run_and_an_event_per_missed_time() -> None:
    scheduler, kube, _, _ = world(T0 + datetime.timedelta(minutes=3))
    scheduler.observe(package({"crons": ["* * * * *"]}, {"schedule": {"decidedUntil": "2026-11-30T10:00:00Z"}}))
    scheduler.tick()
    assert made(kube) == ["nightly-202611301003"]
    assert [r for r, _ in said(kube)] == [reasons.SCHEDULE_MISSED] * 2
    assert "no run for 2026-11-30T10:01:00Z: missed policy RunLatest without a deadline" in said(kube)[0][1]
    assert last_status(kube)["missedCount"] == 2


def test_catch_up_makes_the_most_recent_runs_oldest_first() -> None:
    scheduler, kube, _, _ = world(T0 + datetime.timedelta(minutes=5))
    schedule = {"crons": ["* * * * *"], "missed": "CatchUp", "maxCatchUp": 3}
    scheduler.observe(package(schedule, {"schedule": {"decidedUntil": "2026-11-30T10:00:00Z"}}))
    scheduler.tick()
    assert made(kube) == ["nightly-202611301003", "nightly-202611301004", "nightly-202611301005"]
    assert last_status(kube)["missedCount"] == 2


def test_suspend_across_a_scheduled_time_runs_nothing_then_and_nothing_of_it_on_resume() -> None:
    scheduler, kube, _, clock = world()
    scheduler.observe(package({"crons": ["* * * * *"], "suspend": True}))
    clock.advance(minutes=1)
    scheduler.tick()
    assert made(kube) == []
    assert said(kube) == [(reasons.SCHEDULE_MISSED, "no run for 2026-11-30T10:01:00Z: the schedule is suspended")]
    status = {"schedule": last_status(kube)}
    scheduler.observe(package({"crons": ["* * * * *"], "suspend": False}, status))
    clock.advance(seconds=5)
    scheduler.tick()
    assert made(kube) == []  # 10:01 passed while suspended
    clock.advance(minutes=1)
    scheduler.tick()
    assert made(kube) == ["nightly-202611301002"]


def test_a_foreign_run_under_the_scheduled_name_is_not_taken_for_the_scheduled_run() -> None:
    scheduler, kube, _, clock = world()
    plant(kube, "nightly-202611301001", {"spec": {"packageRef": {"name": "other"}, "trigger": "Manual"}})
    scheduler.observe(package({"crons": ["* * * * *"]}))
    clock.advance(minutes=1)
    scheduler.tick()
    assert made(kube) == []
    assert said(kube)[0][0] == reasons.SCHEDULED_RUN_NAME_TAKEN
    assert "FerrisRun nightly-202611301001 exists and is not the scheduled run" in said(kube)[0][1]
    assert last_status(kube)["missedCount"] == 1


def test_a_copy_of_the_scheduled_run_made_first_by_someone_else_is_not_taken_for_it() -> None:
    """Whoever may create FerrisRuns can make one under the next scheduled time's name, its spec
    exactly what the schedule would write: without the operator's stamp it is not that time's run."""
    scheduler, kube, _, clock = world()
    scheduler.observe(package({"crons": ["* * * * *"]}))
    plant(
        kube,
        "nightly-202611301001",
        {
            "metadata": {"name": "nightly-202611301001", "namespace": "team", "annotations": {}},
            "spec": {"packageRef": {"name": "nightly"}, "trigger": "Schedule", "scheduledTime": "2026-11-30T10:01:00Z"},
        },
    )
    clock.advance(minutes=1)
    scheduler.tick()
    assert said(kube)[0][0] == reasons.SCHEDULED_RUN_NAME_TAKEN
    assert last_status(kube)["missedCount"] == 1 and "lastScheduledRun" not in last_status(kube)
    # The schedule's own run carries the stamp, which a copy elsewhere does not make valid.
    clock.advance(minutes=1)
    scheduler.tick()
    scheduled = run_named(kube, "nightly-202611301002")
    assert PROOF.made_run(scheduled) and PROOF.proven_trigger(scheduled) == "Schedule"
    moved = {**scheduled, "metadata": {**scheduled["metadata"], "name": "nightly-202611301003"}}
    assert not PROOF.made_run(moved)


def test_a_schedule_removed_or_invalid_is_forgotten_and_its_status_cleared() -> None:
    scheduler, kube, _, clock = world()
    scheduler.observe(package({"crons": ["* * * * *"]}))
    scheduler.observe(package({"crons": ["61 * * * *"]}, {"schedule": {"decidedUntil": "2026-11-30T10:00:20Z"}}))
    assert kube.statuses[-1][3] == {"schedule": None} and scheduler.entries() == []
    clock.advance(minutes=1)
    scheduler.tick()
    assert made(kube) == []


def test_many_packages_due_on_one_minute_each_get_their_run_once() -> None:
    scheduler, kube, _, clock = world()
    for i in range(40):
        body = package({"crons": ["* * * * *"]})
        body["metadata"].update(name=f"p{i:02d}", uid=f"uid-{i}")
        scheduler.observe(body)
    clock.advance(minutes=1)
    scheduler.tick()
    scheduler.tick()
    assert sorted(made(kube)) == [f"p{i:02d}-202611301001" for i in range(40)]


def test_a_skipped_time_makes_no_run_and_one_event_and_the_next_time_runs() -> None:
    scheduler, kube, _, clock = world()
    scheduler.observe(package({"crons": ["* * * * *"], "skip": ["2026-11-30T11:01:00+01:00"]}))
    assert last_status(kube)["nextScheduleTime"] == "2026-11-30T10:02:00Z"  # 10:01 UTC is skipped
    clock.advance(seconds=41)
    scheduler.tick()
    clock.advance(seconds=5)
    scheduler.tick()
    assert made(kube) == [] and said(kube) == [
        (reasons.SCHEDULE_SKIPPED, "no run for 2026-11-30T10:01:00Z: it is in spec.schedule.skip")
    ]
    clock.advance(minutes=1)
    scheduler.tick()
    assert made(kube) == ["nightly-202611301002"] and len(said(kube)) == 1
    assert last_status(kube)["missedCount"] == 0


def test_a_jittered_package_starts_its_run_at_its_offset_under_the_scheduled_times_name() -> None:
    scheduler, kube, _, clock = world(datetime.datetime(2026, 11, 30, 10, 0, 0, tzinfo=UTC))
    scheduler.observe(package({"crons": ["* * * * *"], "jitterSeconds": 50}))
    shift = int(offset("team", "nightly", 50).total_seconds())
    assert 0 < shift <= 50 and last_status(kube)["offsetSeconds"] == shift
    clock.advance(minutes=1, seconds=shift - 1)
    scheduler.tick()
    assert made(kube) == []  # 10:01 has come, its offset not yet
    clock.advance(seconds=1)
    scheduler.tick()
    assert made(kube) == ["nightly-202611301001"]
    assert run_named(kube, "nightly-202611301001")["spec"]["scheduledTime"] == "2026-11-30T10:01:00Z"
    assert last_status(kube)["missedCount"] == 0
