"""The rooms' handlers: the periodic re-read of packages' source Secrets, FerrisRun events (a
waiting run looked at again later, a started one costing nothing), and the loops every room declares."""

from __future__ import annotations

import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ferris_operator import handlers, model
from ferris_operator.bodies import package_body
from ferris_operator.holders import Holders
from ferris_operator.packages.handlers import PackageHandlers
from ferris_operator.packages.service import PackageOutcome
from ferris_operator.runs import RunWaiting
from ferris_operator.runs.handlers import RunHandlers
from ferris_operator.runs.sightings import Sightings
from ferris_operator.settings import Settings
from ferris_operator.work.deferred import Deferred
from tests.unit.world import FakeKube, World


def package(
    name: str, secrets_from: bool, status: dict[str, Any], deleting: bool = False, reconciled: bool = True
) -> dict[str, Any]:
    meta: dict[str, Any] = {"namespace": "team", "name": name, "uid": f"uid-{name}", "generation": 1}
    status = {**status, "observedGeneration": 1} if reconciled else status
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    spec: dict[str, Any] = {"scripts": [{"name": "a.py", "content": "pass"}]}
    if secrets_from:
        spec["secretsFrom"] = {"secretName": f"{name}-source"}
    return {"metadata": meta, "spec": spec, "status": status}


class FakePackages:
    """Reconciling bumps the secrets version of ``changed`` packages and leaves others as they are."""

    def __init__(self, changed: set[str]) -> None:
        self.changed = changed
        self.reconciled: list[str] = []

    def reconcile(self, body: dict[str, Any]) -> PackageOutcome:
        name = body["metadata"]["name"]
        self.reconciled.append(name)
        status = dict(body["status"])
        if name in self.changed:
            status["secrets"] = {"version": status["secrets"]["version"] + 1}
        return PackageOutcome(status)


def test_only_packages_with_a_source_secret_are_read_again_by_name_and_only_changes_are_written() -> None:
    unchanged = {"secrets": {"version": 1}}
    seen = [
        package("rotated", True, {"secrets": {"version": 1}}),
        package("same", True, unchanged),
        package("sealed", False, unchanged),
        package("going", True, unchanged, deleting=True),
        package("now-sealed", True, unchanged),
        package("deleted", True, unchanged),
        package("new", True, {}, reconciled=False),  # its handler is on it
    ]
    world = World()
    for body in [*seen[:4], package("now-sealed", False, unchanged), seen[-1]]:  # "deleted" is gone
        world.kube.put("FerrisPackage", body)
    packages = FakePackages(changed={"rotated"})
    settings = Settings(database_url="postgresql://x", master_key_dir=Path("."))
    holders = Holders(world.kube, settings)  # the re-read never reaches a holder's guard here
    handler = PackageHandlers(packages, world.kube, world.vault, holders, settings.intervals)  # type: ignore[arg-type]
    for body in seen:
        handler.sourced.observe(package_body(body))
    handler.resync_package_sources()
    read = [name for _, _, name in world.kube.reads]
    assert read == ["deleted", "new", "now-sealed", "rotated", "same"]  # never "sealed" or "going"
    assert world.kube.listed == []  # by name from the index, never a list of every package
    assert packages.reconciled == ["rotated", "same"]  # not "new", which its handler has not reconciled yet
    assert [(plural, name, status) for plural, _, name, status in world.kube.statuses] == [
        (model.PACKAGES, "rotated", {"secrets": {"version": 2}, "observedGeneration": 1})
    ]
    assert world.kube.events == []


class FakeRuns:
    """A run service whose start waits ``waits`` times (package not reconciled), then starts."""

    def __init__(self, waits: int) -> None:
        self.waits = waits
        self.started: list[str] = []
        self.sightings = Sightings()
        self.starter = self  # RunHandlers starts through the service's starter

    def start(self, body: dict[str, Any]) -> None:
        self.started.append(body["metadata"]["name"])
        if self.waits:
            self.waits -= 1
            raise RunWaiting("PackageNotReconciled", "waiting for FerrisPackage p to be reconciled", delay=0)


def run_handlers(kube: FakeKube, runs: FakeRuns) -> RunHandlers:
    settings = Settings(database_url="postgresql://x", master_key_dir=Path("."))
    return RunHandlers(runs, kube, Holders(kube, settings), settings.intervals, None)  # type: ignore[arg-type]


def deliver(handle: RunHandlers, type: str | None, body: dict[str, Any]) -> None:
    """A watch event, and the worker the watch asks for when the run wants attention."""
    if handle.run_event(type, body):
        handle.attend(body["metadata"]["uid"])


def test_a_run_that_waits_shows_why_once_and_is_started_when_its_wait_is_over() -> None:
    body: dict[str, Any] = {"metadata": {"namespace": "team", "name": "r", "uid": "u", "generation": 1}, "spec": {}}
    kube, runs = FakeKube(), FakeRuns(waits=2)
    kube.put("FerrisRun", body)
    handle = run_handlers(kube, runs)
    now = [0.0]
    handle.runs_later = Deferred(lambda: now[0])
    deliver(handle, None, body)
    assert runs.started == ["r"] and len(kube.statuses) == 1
    body["status"] = kube.statuses[0][3]
    deliver(handle, "MODIFIED", body)  # its own status write: nothing new to say
    assert runs.started == ["r", "r"] and len(kube.statuses) == 1
    handle.retry_waiting_runs()
    assert runs.started == ["r", "r"]  # not due yet
    now[0] += 2.0  # Intervals.run_waiting_retry
    handle.retry_waiting_runs()
    assert runs.started == ["r", "r", "r"] and len(handle.runs_later) == 0


def test_a_started_or_ended_run_costs_its_events_nothing() -> None:
    runs = FakeRuns(waits=0)
    handle = run_handlers(FakeKube(), runs)
    meta = {"namespace": "team", "name": "r", "uid": "u", "generation": 1}
    started = {"phase": model.RUNNING, "jobName": "r-run", "observedGeneration": 1}
    assert handle.run_event("MODIFIED", {"metadata": meta, "spec": {}, "status": started}) is False
    ended = {"metadata": meta, "spec": {"cancel": True}, "status": {"phase": model.FAILED}}
    assert handle.run_event(None, ended) is False
    assert runs.started == [] and runs.sightings.has_run("u") is False


def test_the_hourly_passes_expire_events_the_audit_and_history_each_after_its_own_retention() -> None:
    """The loops the claims rest on: routed events after 7 days (the triggers room), the write
    audit after 90 (the scopes room), run history through the retention pass (the runs room),
    each hourly; unrouted events every 5 s. Every room's loop joins the table."""
    cutoffs: dict[str, Any] = {}

    class Expiring:
        def __init__(self, what: str) -> None:
            self.what = what

        def expire(self, older_than: Any) -> int:
            cutoffs[self.what] = older_than
            return 0

        def expire_writes(self, older_than: Any) -> int:
            cutoffs[self.what] = older_than
            return 0

        def pass_once(self, now: Any) -> None:
            cutoffs[self.what] = now

    settings = Settings(database_url="postgresql://x", master_key_dir=Path("."))
    runs: Any = SimpleNamespace(
        resync=SimpleNamespace(resync=None), outcomes=SimpleNamespace(publish_ended=None),
        history=SimpleNamespace(publish_last_runs=None, sweep=lambda everything: None),
        content_sweep=SimpleNamespace(sweep=None),
    )  # fmt: skip
    router: Any = SimpleNamespace(expire=Expiring("events").expire, route_pending=lambda: 0)
    components: Any = SimpleNamespace(
        settings=settings, kube=None, vault=None, runs=runs, packages=None,
        schedules=SimpleNamespace(tick=lambda: None), events=router, sources=None, scopes=None,
        scope_store=Expiring("audit"), retention=Expiring("history"),
    )  # fmt: skip
    rooms = handlers.Rooms(components)
    others: Any = SimpleNamespace(refresh=None, check=None)  # the peering's and the key health's loops
    every_loop = rooms.loops(others, others)
    table = {loop.name: loop for loop in every_loop}
    hourly = ("events past their retention", "the write audit past its retention", "run history past its retention")
    for name in hourly:
        assert table[name].seconds == 3600 and not table[name].always
        table[name].run()
    now, second = cutoffs["history"], datetime.timedelta(seconds=1)  # each loop reads the clock itself
    assert abs(now - cutoffs["events"] - datetime.timedelta(days=7)) < second
    assert abs(now - cutoffs["audit"] - datetime.timedelta(days=90)) < second
    assert table["events not routed yet"].seconds == 5 and table["events not routed yet"].run == router.route_pending
    assert table["scheduled runs"].run is components.schedules.tick
    assert {"which replica is active", "key provider status", "re-read of source Secrets"} <= set(table)
    assert table["package content no run has used for an hour"].seconds == 600
    assert table["reports no notification announced"].seconds == 5
    assert len(table) == len(every_loop) == 20, sorted(table)  # no two loops under one name
