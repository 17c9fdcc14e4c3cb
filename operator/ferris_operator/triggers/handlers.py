"""The triggers room's kopf handlers and loops: a FerrisTrigger's conditions (the router reads
triggers from the API server when it routes, so nothing is kept here), a FerrisEventSource's
key taken in, the routing of stored events, and their retention."""

from __future__ import annotations

import datetime
from typing import Any

import kopf

from ferris_operator import model
from ferris_operator.bodies import event_source_body, trigger_body
from ferris_operator.holders import Holders
from ferris_operator.ports import KubePort
from ferris_operator.problems import Problem
from ferris_operator.settings import Intervals
from ferris_operator.triggers.match import Trigger, trigger_of
from ferris_operator.triggers.router import EventRouter
from ferris_operator.triggers.sources import EventSourceService
from ferris_operator.triggers.status import trigger_status
from ferris_operator.work.loops import Loop

TRIGGERS = (model.GROUP, model.VERSION, model.TRIGGERS)
EVENT_SOURCES = (model.GROUP, model.VERSION, model.EVENT_SOURCES)


class TriggerHandlers:
    def __init__(
        self,
        router: EventRouter,
        sources: EventSourceService,
        kube: KubePort,
        holders: Holders,
        intervals: Intervals,
        events_retention_days: float,
    ) -> None:
        self.router = router
        self.sources = sources
        self.kube = kube
        self.holders = holders
        self.intervals = intervals
        self.events_retention_days = events_retention_days

    def register(self, registry: kopf.OperatorRegistry) -> None:
        on = kopf.on
        for reacts in (on.resume, on.create, on.update):
            reacts(*TRIGGERS, registry=registry, id="trigger_changed")(self.trigger_changed)
            reacts(*EVENT_SOURCES, registry=registry, id="event_source_changed")(self.event_source_changed)
        on.delete(*EVENT_SOURCES, registry=registry, id="event_source_deleted")(self.event_source_deleted)

    def loops(self) -> tuple[Loop, ...]:
        every = self.intervals
        return (
            Loop("events not routed yet", every.events, self.router.route_pending),
            Loop("events past their retention", every.events_expiry, self.expire_events),
            Loop("re-read of event sources' Secrets", every.source_resync, self.resync_event_sources),
        )

    def trigger_changed(self, body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
        """Check the trigger's filter and targets and say so in its conditions."""
        raw = trigger_body(body)
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

    def event_source_changed(self, body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
        raw = event_source_body(body)
        self.holders.reconcile(
            "FerrisEventSource", model.EVENT_SOURCES, self.sources.reconcile, raw, patch.status.update
        )

    def event_source_deleted(self, body: kopf.Body, **_: Any) -> None:
        raw = event_source_body(body)
        self.holders.guarded(
            "FerrisEventSource", model.EVENT_SOURCES, raw, lambda: self.sources.forget(raw["metadata"]["uid"])
        )

    def resync_event_sources(self) -> None:
        """Re-read event sources' key Secrets (one created again is a rotation)."""
        self.holders.resync("FerrisEventSource", model.EVENT_SOURCES, self.sources.reconcile, event_source_body)

    def expire_events(self) -> None:
        """Routed events past their retention."""
        self.router.expire(model.utcnow() - datetime.timedelta(days=self.events_retention_days))
