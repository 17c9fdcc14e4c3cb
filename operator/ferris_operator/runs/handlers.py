"""The FerrisRun room's handlers: thin. FerrisRuns and their Jobs and pods are watched without
kopf (``k8s/watch.py``, started by ``app.py``); each event is handed here, each run that asks
for attention is handled by a worker, and the runs' periodic passes are declared in ``loops``."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import kopf

from ferris_operator import model
from ferris_operator.bodies import RunBody, run_body
from ferris_operator.builders import run_status
from ferris_operator.holders import Holders
from ferris_operator.ports import KubePort
from ferris_operator.process import metrics
from ferris_operator.runs.attention import Arrivals, needs_attention
from ferris_operator.runs.gates import RunWaiting
from ferris_operator.runs.retention import HistoryRetention
from ferris_operator.runs.service import RunService
from ferris_operator.settings import Intervals
from ferris_operator.store.db import DATABASE_ERRORS
from ferris_operator.work.deferred import Deferred, KeyedLocks
from ferris_operator.work.loops import Loop

log = logging.getLogger("ferris.handlers")
RunKey = tuple[str, str, str]  # namespace, name, uid
RUN_ERROR_RETRY = 30.0  # seconds before a run whose handling failed unexpectedly is tried again


class RunHandlers:
    def __init__(
        self, runs: RunService, kube: KubePort, holders: Holders, intervals: Intervals, retention: HistoryRetention
    ) -> None:
        self.runs = runs
        self.kube = kube
        self.holders = holders
        self.intervals = intervals
        self.retention = retention
        self.arrivals = Arrivals()  # the runs the watch saw ask for attention, for the workers
        self.runs_later: Deferred[RunKey] = Deferred()  # runs that wait to start, looked at again later
        self._run_locks: KeyedLocks[str] = KeyedLocks()

    def register(self, registry: kopf.OperatorRegistry) -> None:
        """No kopf handler: the watches of ``app.py`` bring FerrisRuns, Jobs and pods here."""

    def loops(self) -> tuple[Loop, ...]:
        every, history, outcomes = self.intervals, self.runs.history, self.runs.outcomes
        recent, everything = partial(history.sweep, everything=False), partial(history.sweep, everything=True)
        return (
            Loop("runs whose wait to start is over", every.waiting_runs, self.retry_waiting_runs),
            Loop("resync active runs", every.resync_active_runs, self.runs.resync.resync),
            Loop("ended runs whose status does not show it", every.resync_active_runs, outcomes.publish_ended),
            # A report announced in a notification nobody heard (the server stopped between its
            # commit and the notification; the listener reconnecting) waits at most this long.
            Loop("reports no notification announced", every.report_catch_up, self.catch_up_reports),
            Loop("packages' lastRun", every.last_run, history.publish_last_runs),
            Loop("history of packages with newly finished runs", every.recent_history, recent),
            Loop("history limits and TTLs of every package", every.history_sweep, everything),
            Loop("run history past its retention", every.events_expiry, self.expire_history),
            Loop("package content no run has used for an hour", every.content_sweep, self.runs.content_sweep.sweep),
        )

    def expire_history(self) -> None:
        """Run history past its retention, and the oldest output of namespaces over their quota."""
        self.retention.pass_once(model.utcnow())

    # ---- FerrisRuns ------------------------------------------------------------------------------
    def run_event(self, type: str | None, raw: RunBody, acting: bool = True) -> bool:
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
                found = self.kube.read("FerrisRun", namespace, name)
                body = None if found is None else run_body(found)
            except Exception:
                self.runs_later.add(key, self.intervals.database_retry)
                continue
            if body is not None and body["metadata"]["uid"] == uid and needs_attention(body):
                self._attend_run(key, body)

    def _attend_run(self, key: RunKey, raw: RunBody) -> None:
        """Start (or cancel) the run, idempotently; a run that cannot start yet says why in its
        status and is looked at again when its wait is over."""
        with self._run_locks.held(key[2]):
            try:
                self.holders.guarded("FerrisRun", model.RUNS, raw, lambda: self.runs.starter.start(raw))
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

    def _show_waiting(self, raw: RunBody, waiting: RunWaiting) -> None:
        meta, current = raw["metadata"], raw.get("status") or {}
        status = run_status.waiting_on(
            waiting.reason, waiting.message, meta.get("generation"), current.get("conditions"), now=model.utcnow()
        )
        if any(current.get(field) != value for field, value in status.items()):  # no write that says nothing new
            self.kube.patch_status(model.RUNS, meta["namespace"], meta["name"], status)

    # ---- runs' Jobs and pods ---------------------------------------------------------------------
    def job_event(self, type: str | None, job: dict[str, Any], acting: bool = True) -> None:
        """A run's Job changed. A standby replica only keeps what it saw (``acting`` False)."""
        self.runs.sightings.job_seen(job, deleted=type == "DELETED")
        if not acting:
            return
        try:
            self.runs.follower.on_job(job)
        except DATABASE_ERRORS:
            metrics.DATABASE_ERRORS.inc()  # the periodic resync catches up later

    def pod_event(self, type: str | None, pod: dict[str, Any], acting: bool = True) -> None:
        if not acting or type == "DELETED":
            return
        try:
            self.runs.follower.on_pod(pod)
        except DATABASE_ERRORS:
            metrics.DATABASE_ERRORS.inc()

    # ---- runners' reports (stored by the server's runner API, announced by PostgreSQL) -----------
    def on_report(self, uid: str) -> None:
        """Publish what the run's runner reported, or finish the run with its verdict. A
        failure here loses nothing: the report stays unpublished and the resync takes it up."""
        try:
            self.runs.reports.on_report(uid)
        except DATABASE_ERRORS:
            metrics.DATABASE_ERRORS.inc()
        except Exception as exc:
            metrics.LOOP_ERRORS.labels("reports").inc()
            log.warning("the report of run %s: %s; the resync takes it up", uid, type(exc).__name__)

    def catch_up_reports(self) -> None:
        """Reports stored while nobody listened (after the operator starts or reconnects)."""
        try:
            self.runs.reports.catch_up()
        except DATABASE_ERRORS:
            metrics.DATABASE_ERRORS.inc()
