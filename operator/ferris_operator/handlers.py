"""kopf handlers: thin. Each one hands the object to a service and turns outcomes into status,
Events and kopf's retry signals. They are methods of ``Handlers``, registered into the kopf
registry the application object hands over: no module globals, no service locator."""

from __future__ import annotations

import contextlib
import datetime
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import kopf

from ferris_operator import model, reasons
from ferris_operator.builders import run_status
from ferris_operator.holders import Holders
from ferris_operator.packages.index import PackageName, SourcedPackages
from ferris_operator.packages.service import PackageService
from ferris_operator.ports import KeyHealthPort, KeyProviderUnavailable, KubePort, ScopeStorePort, VaultPort
from ferris_operator.problems import Problem
from ferris_operator.process import metrics
from ferris_operator.runs import RunService, RunWaiting
from ferris_operator.runs.attention import Arrivals, needs_attention
from ferris_operator.runs.retention import HistoryRetention
from ferris_operator.schedules.service import Scheduler
from ferris_operator.secret_scopes.handlers import ScopeHandlers
from ferris_operator.secret_scopes.service import ScopeSecretsService
from ferris_operator.settings import Settings
from ferris_operator.store.db import DATABASE_ERRORS
from ferris_operator.triggers.match import Trigger, trigger_of
from ferris_operator.triggers.router import EventRouter
from ferris_operator.triggers.sources import EventSourceService
from ferris_operator.triggers.status import trigger_status
from ferris_operator.work import separately
from ferris_operator.work.deferred import Deferred, KeyedLocks

log = logging.getLogger("ferris.handlers")
PACKAGES = (model.GROUP, model.VERSION, model.PACKAGES)
TRIGGERS = (model.GROUP, model.VERSION, model.TRIGGERS)
EVENT_SOURCES = (model.GROUP, model.VERSION, model.EVENT_SOURCES)


@dataclass(frozen=True)
class Components:
    settings: Settings
    kube: KubePort
    vault: VaultPort
    runs: RunService
    packages: PackageService
    schedules: Scheduler
    events: EventRouter
    sources: EventSourceService
    scopes: ScopeSecretsService
    scope_store: ScopeStorePort
    key_health: KeyHealthPort
    retention: HistoryRetention


RunKey = tuple[str, str, str]  # namespace, name, uid
RUN_ERROR_RETRY = 30.0  # seconds before a run whose handling failed unexpectedly is tried again


class Handlers:
    def __init__(self, components: Components) -> None:
        self.settings = components.settings
        self.kube = components.kube
        self.vault = components.vault
        self.runs = components.runs
        self.packages = components.packages
        self.retention = components.retention
        self.schedules = components.schedules
        self.events = components.events
        self.sources = components.sources
        self.intervals = components.settings.intervals
        self.holders = Holders(components.kube, components.settings)
        self.scopes = ScopeHandlers(self.holders, components.scopes, components.scope_store, components.kube)
        self.arrivals = Arrivals()  # the runs the watch saw ask for attention, for the workers
        self.runs_later: Deferred[RunKey] = Deferred()  # runs that wait to start, looked at again later
        self._run_locks: KeyedLocks[str] = KeyedLocks()
        self.sourced = SourcedPackages()  # the packages the source re-read looks at

    def register(self, registry: kopf.OperatorRegistry) -> None:
        """Every kopf handler, under the ids kopf has always stored them with."""
        on = kopf.on
        for reacts in (on.resume, on.create, on.update):  # update: spec, labels or annotations
            reacts(*PACKAGES, registry=registry, id="package_changed")(self.package_changed)
        on.delete(*PACKAGES, registry=registry, id="package_deleted")(self.package_deleted)
        for reacts in (on.resume, on.create, on.update):
            reacts(*TRIGGERS, registry=registry, id="trigger_changed")(self.trigger_changed)
            reacts(*EVENT_SOURCES, registry=registry, id="event_source_changed")(self.event_source_changed)
        on.delete(*EVENT_SOURCES, registry=registry, id="event_source_deleted")(self.event_source_deleted)
        self.scopes.register(registry)

    # ---- FerrisRun (app.py watches them without kopf: k8s/watch.py) --------------------------------
    def run_event(self, type: str | None, raw: dict[str, Any], acting: bool = True) -> bool:
        """Every event of a FerrisRun (``type`` None: listed, at start or after a resume failed).
        Nothing is written on the object to remember it: a run that still has to start, or to
        stop, says so in its body (runs/attention.py), and a run that must wait is looked at
        again later. True when a worker should ``attend`` the run; a standby replica (``acting``
        False) only keeps what it saw."""
        meta = raw["metadata"]
        self.runs.sightings.run_seen(raw, deleted=type == "DELETED")
        if type == "DELETED":
            self.arrivals.drop(meta["uid"])
            self.runs_later.forget((meta["namespace"], meta["name"], meta["uid"]))  # the resync ends its record
            return False
        return acting and self.arrivals.offer(raw)

    def attend(self, uid: str) -> None:
        """The run's newest body, handled (in a worker thread), if it still asks for it."""
        raw = self.arrivals.take(uid)
        if raw is not None:
            meta = raw["metadata"]
            self._attend_run((meta["namespace"], meta["name"], uid), raw)

    def retry_waiting_runs(self) -> None:
        """The runs whose wait is over, read again and handled as a new event would be."""
        for key in self.runs_later.take_due():
            namespace, name, uid = key
            try:
                body = self.kube.read("FerrisRun", namespace, name)
            except Exception:
                self.runs_later.add(key, self.intervals.database_retry)
                continue
            if body is not None and body["metadata"]["uid"] == uid and needs_attention(body):
                self._attend_run(key, body)

    def _attend_run(self, key: RunKey, raw: dict[str, Any]) -> None:
        """Start (or cancel) the run, idempotently; a run that cannot start yet says why in its
        status and is looked at again when its wait is over."""
        with self._run_locks.held(key[2]):
            try:
                self.holders.guarded("FerrisRun", model.RUNS, raw, lambda: self.runs.start(raw))
            except RunWaiting as waiting:
                self._show_waiting(raw, waiting)
                self.runs_later.add(key, waiting.delay or self.intervals.run_waiting_retry)
            except kopf.TemporaryError as temporary:  # the database, the key provider, the API server
                self.runs_later.add(key, temporary.delay or self.intervals.database_retry)
            except Exception:
                log.exception("FerrisRun %s/%s could not be handled; trying again", key[0], key[1])
                self.runs_later.add(key, RUN_ERROR_RETRY)
            else:
                self.runs_later.forget(key)

    def _show_waiting(self, raw: dict[str, Any], waiting: RunWaiting) -> None:
        meta, current = raw["metadata"], raw.get("status") or {}
        status = run_status.waiting_on(
            waiting.reason, waiting.message, meta.get("generation"), current.get("conditions"), now=model.utcnow()
        )
        if any(current.get(field) != value for field, value in status.items()):  # no write that says nothing new
            self.kube.patch_status(model.RUNS, meta["namespace"], meta["name"], status)

    # ---- runs' Jobs and pods (app.py watches them, label-selected, without kopf) -----------------
    def job_event(self, type: str | None, job: dict[str, Any], acting: bool = True) -> None:
        """A run's Job changed. A standby replica only keeps what it saw (``acting`` False)."""
        self.runs.sightings.job_seen(job, deleted=type == "DELETED")
        if not acting:
            return
        try:
            self.runs.on_job(job)
        except DATABASE_ERRORS:
            metrics.DATABASE_ERRORS.inc()  # the periodic resync catches up later

    def pod_event(self, type: str | None, pod: dict[str, Any], acting: bool = True) -> None:
        if not acting or type == "DELETED":
            return
        try:
            self.runs.on_pod(pod)
        except DATABASE_ERRORS:
            metrics.DATABASE_ERRORS.inc()

    # ---- FerrisPackage --------------------------------------------------------------------------
    def package_changed(self, body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
        raw = dict(body)
        self.sourced.observe(raw)  # before the reconcile: a missing source is what the re-read waits for
        self.schedules.observe(raw)  # kept whatever the reconcile says: its runs report the package's state
        self._reconcile_package(raw, patch.status.update)

    def package_deleted(self, body: kopf.Body, **_: Any) -> None:
        raw = dict(body)
        self.sourced.forget(raw)
        self.schedules.forget(raw["metadata"]["uid"])
        self.holders.guarded("FerrisPackage", model.PACKAGES, raw, lambda: self.vault.forget(raw["metadata"]["uid"]))

    def _reconcile_package(self, raw: dict[str, Any], write_status: Callable[[dict[str, Any]], None]) -> None:
        try:
            outcome = self.packages.reconcile(raw)
        except DATABASE_ERRORS:
            raise self.holders.database_down("FerrisPackage", raw, model.PACKAGES) from None
        except KeyProviderUnavailable as down:
            raise self.holders.key_provider_down("FerrisPackage", raw, model.PACKAGES, down) from None
        current = raw.get("status") or {}
        if any(current.get(key) != value for key, value in outcome.status.items()):
            write_status(outcome.status)  # a resume of an unchanged package writes nothing
        for warning in outcome.warnings:
            self.kube.event(raw, "FerrisPackage", reasons.SHORT_SECRET_NOT_MASKED, warning)
        if outcome.problem:
            reason, message = outcome.problem.reason, outcome.problem.message
            metrics.RECONCILE_ERRORS.labels("FerrisPackage", reason).inc()
            previous = (raw.get("status") or {}).get("conditions") or []
            already = any(cond.get("reason") == reason and cond.get("message") == message for cond in previous)
            if not already:
                self.kube.event(raw, "FerrisPackage", reason, message)
            if outcome.problem.retry:
                raise kopf.TemporaryError(message, delay=self.intervals.package_retry)

    # ---- FerrisTrigger ---------------------------------------------------------------------------
    def trigger_changed(self, body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
        """Check the trigger's filter and targets and say so in its conditions. The router
        reads triggers from the API server when it routes, so nothing is kept here."""
        raw = dict(body)
        try:
            read: Trigger | Problem = trigger_of(raw)
        except Problem as problem:
            read = problem
        status = trigger_status(raw, read, model.utcnow())
        current = raw.get("status") or {}
        if any(current.get(key) != value for key, value in status.items()):
            patch.status.update(status)
            if isinstance(read, Problem):
                self.kube.event(raw, "FerrisTrigger", read.reason, read.message)

    # ---- FerrisEventSource -----------------------------------------------------------------------
    def event_source_changed(self, body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
        raw = dict(body)
        self.holders.reconcile(
            "FerrisEventSource", model.EVENT_SOURCES, self.sources.reconcile, raw, patch.status.update
        )

    def event_source_deleted(self, body: kopf.Body, **_: Any) -> None:
        raw = dict(body)
        self.holders.guarded(
            "FerrisEventSource", model.EVENT_SOURCES, raw, lambda: self.sources.forget(raw["metadata"]["uid"])
        )

    def resync_event_sources(self) -> None:
        """Re-read event sources' key Secrets (one created again is a rotation)."""
        self.holders.resync("FerrisEventSource", model.EVENT_SOURCES, self.sources.reconcile)

    # ---- events (stored by the server, announced by PostgreSQL) -------------------------------------
    def route_events(self) -> None:
        """Route the events not routed yet into runs. A failure loses nothing: they stay
        unrouted and the next notification or the periodic pass takes them up."""
        try:
            self.events.route_pending()
        except DATABASE_ERRORS:
            metrics.DATABASE_ERRORS.inc()

    def expire_history(self) -> None:
        """Remove routed events past their retention, the audit of secret writes past its, and run
        history past its (with the output of namespaces over their quota)."""
        now = model.utcnow()
        try:
            self.events.events.expire(now - datetime.timedelta(days=self.settings.events_retention_days))
            self.scopes.store.expire_writes(now - datetime.timedelta(days=self.settings.audit_retention_days))
            self.retention.pass_once(now)
        except DATABASE_ERRORS:
            metrics.DATABASE_ERRORS.inc()

    # ---- periodic (declared in loops.py) --------------------------------------------------------
    def resync_package_sources(self) -> None:
        """Re-read the source Secret of packages with ``spec.secretsFrom`` (kept, or created
        again to re-upload). Each package is read by name from the index its handlers keep
        (``packages/index.py``), never by listing every package. Not a kopf timer: kopf keeps
        the latest body of every object of a resource that has a timer, which with 10,000
        packages is 100 MiB and more."""

        def reread(name: PackageName) -> None:
            raw = self.kube.get_package(*name)
            if raw is None or not raw["spec"].get("secretsFrom") or raw["metadata"].get("deletionTimestamp"):
                return  # its handlers update the index
            if not model.reconciled(raw):
                return  # its handler is on it (kopf retries it): two would take the source in twice
            write = functools.partial(self.kube.patch_status, model.PACKAGES, name[0], name[1])
            with contextlib.suppress(kopf.TemporaryError):  # reported in status; the next pass tries again
                self._reconcile_package(raw, write)

        separately.each(
            "package-sources", self.sourced.names(), reread, lambda name: f"FerrisPackage {name[0]}/{name[1]}"
        )

    def tick_schedules(self) -> None:
        """Make the runs of packages whose scheduled time has come."""
        try:
            self.schedules.tick()
        except DATABASE_ERRORS:
            metrics.DATABASE_ERRORS.inc()  # the cursor did not move: the next tick decides again

    def publish_last_runs(self) -> None:
        """Packages' status.lastRun."""
        self.runs.publish_last_runs()

    def clean_recent_history(self) -> None:
        """History limits of the packages whose runs finished since the last call."""
        self.runs.sweep_history(everything=False)

    def sweep_history(self) -> None:
        """TTLs and history limits of every package."""
        self.runs.sweep_history(everything=True)

    def resync_active_runs(self) -> None:
        """Level-based safety net: catch up with Job and pod changes missed while the operator
        or the database was down. Active runs come from PostgreSQL, so this needs no per-run
        timer (and no finalizer on runs)."""
        try:
            self.runs.resync_active()
        except DATABASE_ERRORS:
            metrics.DATABASE_ERRORS.inc()

    def publish_ended_runs(self) -> None:
        """Runs that ended while the API server could not be written: their end shown now."""
        try:
            self.runs.publish_ended()
        except DATABASE_ERRORS:
            metrics.DATABASE_ERRORS.inc()

    # ---- runners' reports (stored by the server's runner API, announced by PostgreSQL) -----------
    def on_report(self, uid: str) -> None:
        """Publish what the run's runner reported, or finish the run with its verdict. A
        failure here loses nothing: the report stays unpublished and the resync takes it up."""
        try:
            self.runs.on_report(uid)
        except DATABASE_ERRORS:
            metrics.DATABASE_ERRORS.inc()
        except Exception as exc:
            metrics.LOOP_ERRORS.labels("reports").inc()
            log.warning("the report of run %s: %s; the resync takes it up", uid, type(exc).__name__)

    def catch_up_reports(self) -> None:
        """Reports stored while nobody listened (after the operator starts or reconnects)."""
        try:
            self.runs.catch_up_reports()
        except DATABASE_ERRORS:
            metrics.DATABASE_ERRORS.inc()
