"""History limits and TTLs of finished runs (History.sweep) in the fake world: the
finished runs come from what the FerrisRun watch showed, never from a LIST."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from ferris_operator import model
from ferris_operator.bodies import run_body
from ferris_operator.records import RunRecord
from ferris_operator.runs import RunService
from ferris_operator.settings import Settings
from tests.unit.world import World


def run(namespace: str, name: str, package: str, phase: str | None, finished_minutes_ago: int = 0) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if phase:
        status["phase"] = phase
        if phase in model.TERMINAL:
            moment = model.utcnow() - datetime.timedelta(minutes=finished_minutes_ago)
            status["completionTime"] = model.timestamp(moment)
    return {
        "metadata": {"namespace": namespace, "name": name, "uid": f"uid-{namespace}-{name}"},
        "spec": {"packageRef": {"name": package}},
        "status": status,
    }


def world_of(runs: list[dict[str, Any]], packages: dict[tuple[str, str], dict[str, Any]]) -> World:
    """The runs, and the packages by (namespace, name) with these specs, in the fake world."""
    world = World()
    for body in runs:
        world.kube.put("FerrisRun", body)
    for (namespace, name), spec in packages.items():
        world.kube.put("FerrisPackage", {"metadata": {"namespace": namespace, "name": name}, "spec": spec})
    return world


def deleted(world: World) -> list[str]:
    return [f"{namespace}/{name}" for kind, namespace, name, _ in world.kube.deleted if kind == "FerrisRun"]


def package_reads(world: World) -> list[tuple[str, str]]:
    return [(namespace, name) for kind, namespace, name in world.kube.reads if kind == "FerrisPackage"]


class FakeRunStore:
    """PostgreSQL's finish times, to the microsecond, for the runs it is told about."""

    def __init__(self, finished: dict[str, datetime.datetime] | None = None) -> None:
        self.finished = finished or {}

    def finish_times(self, uids: list[str]) -> dict[str, datetime.datetime]:
        return {uid: self.finished[uid] for uid in uids if uid in self.finished}

    def finish(self, uid: str, phase: str, reason: str, message: str) -> bool:
        self.finished[uid] = model.utcnow()
        return True

    def mark_end_published(self, uid: str, phase: str) -> None:
        pass

    def get(self, uid: str) -> RunRecord:
        _, namespace, name = uid.split("-", 2)
        package = name.rsplit("-", 1)[0]
        now = model.utcnow()
        return RunRecord(uid, namespace, name, package, "puid", 1, 1, model.SUCCEEDED, "", "", None, now, now, now)

    def steps(self, uid: str, tail: int | None = None) -> list[Any]:
        return []


def service(world: World, store: FakeRunStore | None = None) -> RunService:
    settings = Settings(database_url="postgresql://x", master_key_dir=Path("/x"))
    runs = RunService(world.kube, world.vault, store or FakeRunStore(), settings, None)  # type: ignore[arg-type]
    for (kind, _, _), body in sorted(world.kube.objects.items()):  # what the FerrisRun watch showed
        if kind == "FerrisRun":
            runs.sightings.run_seen(run_body(body))
    return runs


def test_history_limits_keep_the_newest_runs_of_each_phase() -> None:
    runs = [run("a", f"ok-{i}", "p", model.SUCCEEDED, finished_minutes_ago=i) for i in range(4)]
    runs += [run("a", f"bad-{i}", "p", model.FAILED, finished_minutes_ago=i) for i in range(3)]
    runs += [run("a", "cancelled", "p", model.CANCELLED, finished_minutes_ago=10), run("a", "active", "p", "Running")]
    world = world_of(runs, {("a", "p"): {"successfulRunsHistoryLimit": 2, "failedRunsHistoryLimit": 1}})
    service(world).history.sweep(everything=True)
    assert sorted(deleted(world)) == ["a/bad-1", "a/bad-2", "a/ok-2", "a/ok-3"]
    assert world.kube.listed == []  # the finished runs come from the watch, never a list


def test_ttl_deletes_runs_finished_longer_ago_whatever_the_limits() -> None:
    runs = [run("a", "old", "p", model.SUCCEEDED, finished_minutes_ago=5), run("a", "new", "p", model.FAILED)]
    world = world_of(runs, {("a", "p"): {"ttlSecondsAfterFinished": 120}})
    service(world).history.sweep(everything=True)
    assert deleted(world) == ["a/old"]


def test_a_quick_sweep_touches_only_packages_with_newly_finished_runs() -> None:
    runs = [run(ns, f"{pkg}-{i}", pkg, model.SUCCEEDED, i) for ns in ("a", "b") for pkg in ("p", "q") for i in range(3)]
    runs[9] = run("b", "q-0", "q", "Running")  # still running: it ends below
    world = world_of(runs, {(ns, pkg): {"successfulRunsHistoryLimit": 1} for ns in ("a", "b") for pkg in ("p", "q")})
    runs_service = service(world)
    runs_service.sightings.take_newly_finished()  # what the watch showed before: swept already
    runs_service.history.sweep(everything=False)
    assert package_reads(world) == [] and deleted(world) == []  # nothing finished: no API call at all
    runs_service.outcomes.finish("uid-b-q-0", model.SUCCEEDED, "Succeeded", "done")  # a run of b/q ends
    runs_service.sightings.run_seen(run("b", "q-0", "q", model.SUCCEEDED))  # and the watch shows it
    runs_service.history.sweep(everything=False)
    assert package_reads(world) == [("b", "q")] and sorted(deleted(world)) == ["b/q-1", "b/q-2"]
    runs_service.history.sweep(everything=False)
    assert package_reads(world) == [("b", "q")]  # consumed


def test_a_run_deleted_from_the_cluster_is_no_longer_counted() -> None:
    runs = [run("a", f"ok-{i}", "p", model.SUCCEEDED, finished_minutes_ago=i) for i in range(3)]
    world = world_of(runs, {("a", "p"): {"successfulRunsHistoryLimit": 2}})
    runs_service = service(world)
    runs_service.sightings.run_seen(runs[0], deleted=True)  # the newest, deleted by a person
    runs_service.history.sweep(everything=True)
    assert deleted(world) == []  # two left: within the limit


def test_runs_that_finished_within_the_same_second_are_ordered_by_postgresql() -> None:
    runs = [run("a", "earlier", "p", model.SUCCEEDED), run("a", "later", "p", model.SUCCEEDED)]
    runs[1]["status"]["completionTime"] = runs[0]["status"]["completionTime"]  # the same second
    second = model.parse_timestamp(runs[0]["status"]["completionTime"])
    store = FakeRunStore(
        {
            "uid-a-earlier": second + datetime.timedelta(milliseconds=100),
            "uid-a-later": second + datetime.timedelta(milliseconds=900),
        }
    )
    world = world_of(runs, {("a", "p"): {"successfulRunsHistoryLimit": 1}})
    service(world, store).history.sweep(everything=True)
    assert deleted(world) == ["a/earlier"]


def test_a_run_the_watch_shows_finished_after_the_quick_pass_is_swept_by_the_next() -> None:
    world = world_of([], {("a", "p"): {"ttlSecondsAfterFinished": 0}})
    runs_service = service(world)
    runs_service.outcomes.finish("uid-a-p-0", model.SUCCEEDED, "Succeeded", "done")  # ended in PostgreSQL
    runs_service.history.sweep(everything=False)  # the watch has not shown its end yet
    assert deleted(world) == []
    runs_service.sightings.run_seen(run("a", "p-0", "p", model.SUCCEEDED, finished_minutes_ago=1))
    runs_service.history.sweep(everything=False)
    assert deleted(world) == ["a/p-0"]


def test_a_ttl_due_before_the_full_sweep_is_looked_at_again_by_the_quick_pass() -> None:
    for ttl, looks in ((30, [("a", "p")] * 2), (3600, [("a", "p")])):
        world = world_of([run("a", "p-0", "p", model.SUCCEEDED)], {("a", "p"): {"ttlSecondsAfterFinished": ttl}})
        runs_service = service(world)  # the watch just showed it finished
        runs_service.history.sweep(everything=False)
        runs_service.history.sweep(everything=False)
        assert deleted(world) == [] and package_reads(world) == looks, ttl
