"""The periodic re-read of packages' source Secrets (Handlers.resync_package_sources), and FerrisRun
events: a waiting run looked at again later, a started one costing nothing."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ferris_operator import handlers, loops, model
from ferris_operator.packages.service import PackageOutcome
from ferris_operator.runs import RunWaiting
from ferris_operator.runs.sightings import Sightings
from ferris_operator.settings import Settings
from ferris_operator.work.deferred import Deferred


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


class FakeKube:
    def __init__(self, packages: list[dict[str, Any]]) -> None:
        self.packages = packages
        self.patched: list[tuple[str, str, dict[str, Any]]] = []
        self.reads: list[str] = []

    def iter_packages(self, namespaces: tuple[str, ...]) -> Iterator[dict[str, Any]]:
        raise AssertionError("the re-read listed every package")

    def get_package(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.reads.append(name)
        return next((p for p in self.packages if p["metadata"]["name"] == name), None)

    def patch_status(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.patched.append((plural, name, status))

    def event(self, *args: Any) -> None:
        raise AssertionError("no event expected")


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
    kube = FakeKube([*seen[:4], package("now-sealed", False, unchanged), seen[-1]])  # "deleted" is gone
    packages = FakePackages(changed={"rotated"})
    settings = Settings(database_url="postgresql://x", master_key_dir=Path("."))
    components = SimpleNamespace(
        settings=settings,
        kube=kube,
        vault=None,
        runs=None,
        packages=packages,
        schedules=None,
        events=None,
        sources=None,
        scopes=None,
        scope_store=None,
        retention=None,
    )
    handler = handlers.Handlers(components)  # type: ignore[arg-type]  # partial fakes
    for body in seen:
        handler.sourced.observe(body)
    handler.resync_package_sources()
    assert kube.reads == ["deleted", "new", "now-sealed", "rotated", "same"]  # never "sealed" or "going"
    assert packages.reconciled == ["rotated", "same"]  # not "new", which its handler has not reconciled yet
    assert kube.patched == [(model.PACKAGES, "rotated", {"secrets": {"version": 2}, "observedGeneration": 1})]


class FakeRuns:
    """A run service whose start waits ``waits`` times (package not reconciled), then starts."""

    def __init__(self, waits: int) -> None:
        self.waits = waits
        self.started: list[str] = []
        self.sightings = Sightings()

    def start(self, body: dict[str, Any]) -> None:
        self.started.append(body["metadata"]["name"])
        if self.waits:
            self.waits -= 1
            raise RunWaiting("PackageNotReconciled", "waiting for FerrisPackage p to be reconciled", delay=0)


class RunKube(FakeKube):
    def __init__(self, run: dict[str, Any]) -> None:
        super().__init__([])
        self.run = run

    def read(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.run if name == self.run["metadata"]["name"] else None


def run_handlers(kube: FakeKube, runs: FakeRuns) -> handlers.Handlers:
    settings = Settings(database_url="postgresql://x", master_key_dir=Path("."))
    components = SimpleNamespace(
        settings=settings, kube=kube, vault=None, runs=runs, packages=None, schedules=None, events=None,
        sources=None, scopes=None, scope_store=None, retention=None,
    )  # fmt: skip
    return handlers.Handlers(components)  # type: ignore[arg-type]  # partial fakes


def deliver(handle: handlers.Handlers, type: str | None, body: dict[str, Any]) -> None:
    """A watch event, and the worker the watch asks for when the run wants attention."""
    if handle.run_event(type, body):
        handle.attend(body["metadata"]["uid"])


def test_a_run_that_waits_shows_why_once_and_is_started_when_its_wait_is_over() -> None:
    body: dict[str, Any] = {"metadata": {"namespace": "team", "name": "r", "uid": "u", "generation": 1}, "spec": {}}
    kube, runs = RunKube(body), FakeRuns(waits=2)
    handle = run_handlers(kube, runs)
    now = [0.0]
    handle.runs_later = Deferred(lambda: now[0])
    deliver(handle, None, body)
    assert runs.started == ["r"] and len(kube.patched) == 1
    body["status"] = kube.patched[0][2]
    deliver(handle, "MODIFIED", body)  # its own status write: nothing new to say
    assert runs.started == ["r", "r"] and len(kube.patched) == 1
    handle.retry_waiting_runs()
    assert runs.started == ["r", "r"]  # not due yet
    now[0] += 2.0  # Intervals.run_waiting_retry
    handle.retry_waiting_runs()
    assert runs.started == ["r", "r", "r"] and len(handle.runs_later) == 0


def test_a_started_or_ended_run_costs_its_events_nothing() -> None:
    runs = FakeRuns(waits=0)
    handle = run_handlers(FakeKube([]), runs)
    meta = {"namespace": "team", "name": "r", "uid": "u", "generation": 1}
    started = {"phase": model.RUNNING, "jobName": "r-run", "observedGeneration": 1}
    assert handle.run_event("MODIFIED", {"metadata": meta, "spec": {}, "status": started}) is False
    ended = {"metadata": meta, "spec": {"cancel": True}, "status": {"phase": model.FAILED}}
    assert handle.run_event(None, ended) is False
    assert runs.started == [] and runs.sightings.has_run("u") is False


def test_the_hourly_pass_expires_events_the_audit_and_history_each_after_its_own_retention() -> None:
    """The loop the claims rest on: routed events after 7 days, the write audit after 90, run
    history through the retention pass, all from one handler the loop table runs hourly."""
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
    components = SimpleNamespace(
        settings=settings, kube=None, vault=None, runs=None, packages=None, schedules=None,
        events=SimpleNamespace(events=Expiring("events")), sources=None, scopes=None,
        scope_store=Expiring("audit"), retention=Expiring("history"),
    )  # fmt: skip
    handler = handlers.Handlers(components)  # type: ignore[arg-type]  # partial fakes
    handler.expire_history()
    now = cutoffs["history"]
    assert now - cutoffs["events"] == datetime.timedelta(days=7)
    assert now - cutoffs["audit"] == datetime.timedelta(days=90)
    others: Any = SimpleNamespace(refresh=None, check=None)  # the peering's and the key health's loops
    table = {loop.name: loop for loop in loops.loops(handler, settings.intervals, others, others)}
    assert table["history, events and the write audit past their retention"].seconds == 3600
    assert table["history, events and the write audit past their retention"].run == handler.expire_history
    assert table["events not routed yet"].seconds == 5 and table["events not routed yet"].run == handler.route_events
