"""Routing stored events into runs: for each event not routed yet, oldest first, the
FerrisTriggers of its namespace that match it, one FerrisRun per target, and what was done
recorded with the event (once) and counted in each trigger's status.

The events of a batch are routed at once (``workers`` threads): each one's runs and record are
its own, and the counts per trigger add up in one statement each. At least once, never twice:
an event is marked routed after its runs exist, and a run's name
derives from the trigger, the event's source and id and the package, so routing an event again
(after a crash in between) finds the runs it made. A run of that name that is not this event's
is reported, never taken for it. Namespaces are walls: an event is matched only against the
triggers of its own namespace, and its runs are made there.

Tenants are walls here too: each namespace's triggers are listed on their own and each event is
routed on its own. A namespace whose triggers the operator may not read (not watched, or a
refusal of the API server) has its events recorded as refused (``EventRefused``), once; an
event whose run the API server refuses for good (a quota, a forbidden namespace) records that
refusal as its outcome; what may pass by itself (the API server or PostgreSQL away) leaves the
event for the next pass, and the pass goes on past it, so no tenant's events hold up another's.

Joins (``spec.join``): an event that matches one of a join's named filters and has a joining
value is kept in PostgreSQL as that part (``JoinStorePort``); the event that brings the last
part makes one run per target, named from the trigger, the joining value, the joined events and
the package, and then marks the parts completed. Routing the event again after a crash finds
the same parts, so the same run; after the mark, nothing opens again.

Chains end: a run made for an event sent at depth d (by a run that was d-th in its chain) is
d+1-th. One past the limit is still made, and refused by the run starter with
``ChainTooDeep`` on the run; an event from such a refused run starts nothing."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ferris_operator import model, reasons
from ferris_operator.bodies import RunBody
from ferris_operator.builders.run_manifest import run_manifest
from ferris_operator.ownership import Provenance
from ferris_operator.ports import EventStorePort, JoinStorePort, KubePort, RunStorePort
from ferris_operator.problems import Problem
from ferris_operator.process import metrics
from ferris_operator.records import Event, EventRecord
from ferris_operator.triggers.match import (
    Target,
    Trigger,
    correlation_of,
    join_params,
    join_run_name,
    matched_type,
    params_for,
    run_name,
    trigger_of,
)
from ferris_operator.work import separately

log = logging.getLogger("ferris.triggers")
BATCH = 100


@dataclass
class Routing:
    """What routing one event did, as stored with it (``outcome``) and counted per trigger."""

    triggers: list[str] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    refused: list[dict[str, str]] = field(default_factory=list)
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)  # trigger uid -> (made, refused)

    def outcome(self) -> dict[str, Any]:
        return {"triggers": self.triggers, "runs": self.runs, "refused": self.refused}


class EventRouter:
    def __init__(
        self,
        kube: KubePort,
        events: EventStorePort,
        runs: RunStorePort,
        max_depth: int,
        proof: Provenance,
        workers: int = 8,
        joins: JoinStorePort | None = None,
    ) -> None:
        self.kube = kube
        self.joins = joins  # None: joins wait on nothing and start nothing
        self.proof = proof  # stamps the runs it makes; knows them by it
        self.events = events
        self.runs = runs
        self.max_depth = max_depth
        self.workers = workers  # events of a batch routed at once: each is independent of the others

    def expire(self, older_than: datetime.datetime) -> int:
        """Routed events stored before ``older_than``, removed (their retention), with the join
        parts of the same age that wait on nothing; how many events."""
        if self.joins is not None:
            self.joins.expire(older_than)
        return self.events.expire(older_than)

    def route_pending(self) -> int:
        """Route every event not routed yet, oldest first; how many were routed. An event left
        for the next pass does not hold up the ones after it (the pass moves on by ``seq``)."""
        routed = 0
        touched: dict[str, Trigger] = {}
        after = 0
        while batch := self.events.unrouted(BATCH, after):
            after = batch[-1].seq
            listed, refused = self._listings({r.event.namespace for r in batch})
            for record in batch:
                refusal = refused.get(record.event.namespace)
                if refusal is not None and self.events.routed(record.seq, _refused_namespace(refusal), {}):
                    routed += 1
            routable = [r for r in batch if r.event.namespace in listed]  # the rest wait a pass
            matching = [listed[record.event.namespace] for record in routable]
            with ThreadPoolExecutor(self.workers, thread_name_prefix="route") as pool:
                routings = list(pool.map(self._route_alone, routable, matching))
            for triggers, routing in zip(matching, routings, strict=True):
                if routing is None:
                    continue  # left for the next pass
                touched.update({t.uid: t for t in triggers if t.uid in routing.counts})
                routed += 1
            if len(batch) < BATCH:
                break
        separately.each(
            "trigger-status", touched.values(), self.publish, lambda t: f"FerrisTrigger {t.namespace}/{t.name}"
        )
        return routed

    def _route_alone(self, record: EventRecord, triggers: Iterable[Trigger]) -> Routing | None:
        """``route``, its failure kept to this event: None leaves it for the next pass (logged
        by kind and number only: an error's text may quote the event's data)."""
        try:
            return self.route(record, triggers)
        except Exception as exc:  # any failure of one event stays with that event
            log.warning(
                "event %s in %s left for the next pass: %s", record.seq, record.event.namespace, type(exc).__name__
            )
            return None

    def _listings(self, namespaces: set[str]) -> tuple[dict[str, list[Trigger]], dict[str, str]]:
        """Each namespace's triggers, listed on its own: (the ones listed, the API server's words
        for those it refused to list for good: EventRefused for their events). A namespace in
        neither failed in a way that may pass: its events wait a pass."""
        listed: dict[str, list[Trigger]] = {}
        refused: dict[str, str] = {}
        for namespace in namespaces:
            try:
                listed[namespace] = self._triggers(namespace)
            except Exception as exc:  # one namespace's failure stays with it
                refusal = self.kube.refusal(exc)
                if refusal is not None:
                    refused[namespace] = refusal
                else:
                    log.warning("FerrisTriggers of %s not listed, its events wait: %s", namespace, type(exc).__name__)
        return listed, refused

    def route(self, record: EventRecord, triggers: Iterable[Trigger]) -> Routing:
        routing = Routing()
        for trigger in triggers:
            if trigger.join is not None:
                self._join(trigger, record, routing)
                continue
            origin = None if trigger.suspended else matched_type(trigger.filter, record.event)
            if origin is None:
                continue
            routing.triggers.append(trigger.name)
            self._make_runs(trigger, record, origin, routing)
        if self.events.routed(record.seq, routing.outcome(), routing.counts):
            metrics.EVENTS_ROUTED.inc()
            metrics.EVENT_RUNS.inc(len(routing.runs))
        return routing

    def _join(self, trigger: Trigger, record: EventRecord, routing: Routing) -> None:
        """The event as a part of the trigger's join; the join's runs when it brings the last."""
        join, event = trigger.join, record.event
        assert join is not None
        if trigger.suspended or self.joins is None:
            return
        for name, part in join.parts:
            origin = matched_type(part, event)
            correlation = correlation_of(join, event) if origin is not None else None
            if origin is None or correlation is None:
                continue
            routing.triggers.append(trigger.name)
            waiting = self.joins.offer(
                trigger.uid, correlation, name, record.seq, event.data, record.received_at, join.within
            )
            if set(waiting) != join.names:
                routing.counts.setdefault(trigger.uid, (0, 0))
                continue
            seqs = sorted(p.seq for p in waiting.values())
            joined = Event(
                f"{correlation} {','.join(map(str, seqs))}",
                origin,
                f"/joins/{trigger.name}",
                event.namespace,
                None,
                {n: p.data for n, p in waiting.items()},
                event.depth,
            )
            completing = EventRecord(record.seq, joined, record.sent_by, record.received_at)
            if self._make_runs(trigger, completing, origin, routing, (correlation, seqs)):
                self.joins.complete(trigger.uid, correlation, seqs)

    def _make_runs(
        self,
        trigger: Trigger,
        record: EventRecord,
        origin: str,
        routing: Routing,
        joined: tuple[str, list[int]] | None = None,
    ) -> bool:
        """One run per target of the trigger for the event (or the join it completed); False
        when a target's run was refused."""
        made = refused = 0
        for target in trigger.targets:
            try:
                routing.runs.append(self._make_run(trigger, target, record, origin, joined))
                made += 1
            except Problem as problem:
                refused += 1
                routing.refused.append(
                    {
                        "trigger": trigger.name,
                        "package": target.package,
                        "reason": problem.reason,
                        "message": problem.message,
                    }
                )
                self.kube.event(_involved(trigger), "FerrisTrigger", problem.reason, problem.message)
        routing.counts[trigger.uid] = (made, refused)
        return refused == 0

    def publish(self, trigger: Trigger) -> None:
        """The trigger's counts and last event, from what the store counted."""
        matched, made, refused, last = self.events.counts(trigger.uid)
        status: dict[str, Any] = {"events": matched, "runs": made, "refused": refused}
        if last is not None:
            status["lastEvent"] = {
                "seq": last.seq,
                "id": last.event.id[:256],
                "type": last.event.type,
                "source": last.event.source[:1024],
                "time": model.timestamp(last.received_at),
            }
        self.kube.patch_status(model.TRIGGERS, trigger.namespace, trigger.name, status)

    def _triggers(self, namespace: str) -> list[Trigger]:
        found = []
        for obj in self.kube.iter_triggers((namespace,)):
            if obj["metadata"].get("deletionTimestamp"):
                continue
            try:
                found.append(trigger_of(obj))
            except Problem:
                continue  # reported on the trigger by its handler; it matches nothing
        return found

    def _make_run(
        self,
        trigger: Trigger,
        target: Target,
        record: EventRecord,
        origin: str,
        joined: tuple[str, list[int]] | None = None,
    ) -> str:
        """The run of ``target`` for the event, or for the join (joining value, events) it completed."""
        event = record.event
        depth = event.depth + 1
        if event.depth > self.max_depth:
            raise Problem(
                reasons.CHAIN_TOO_DEEP,
                f"event {event.id} was sent by a run refused at chain depth {event.depth}; it starts nothing",
            )
        if joined is None:
            name, params = run_name(trigger.name, target.package, event), params_for(target.params, event, origin)
        else:
            name = join_run_name(trigger.name, target.package, *joined)
            params = join_params(target.params, event.data, origin)
        manifest = run_manifest(target.package, params, None, model.TRIGGER_EVENT, name=name)
        manifest["metadata"]["namespace"] = event.namespace
        manifest["metadata"]["annotations"] = {
            model.ANNOTATION_TRIGGERED_BY: trigger.name,
            model.ANNOTATION_EVENT: f"{event.source} {event.id}"[:4096],
            model.ANNOTATION_CHAIN_DEPTH: str(depth),
        }
        if self.runs.known(event.namespace, name, model.TRIGGER_EVENT):
            return name  # made before a restart, finished and cleaned up since: not again
        try:
            run, created = self.kube.create_or_get(self.proof.stamp_run(manifest))
        except Exception as exc:
            refusal = self.kube.refusal(exc)
            if refusal is None:
                raise  # may pass by itself: the event waits for the next pass
            raise Problem(reasons.INVALID_TRIGGER, f"the API server refused run {name}: {refusal}") from None
        if created or (self.proof.made_run(run) and _is_this_events_run(run, manifest)):
            return name
        raise Problem(
            reasons.TRIGGERED_RUN_NAME_TAKEN,
            f"FerrisRun {name} exists and is not the run of event {event.id} for {target.package};"
            " delete or rename it so that the trigger can use its name",
        )


def _is_this_events_run(run: Mapping[str, Any], manifest: RunBody) -> bool:
    annotations = run["metadata"].get("annotations") or {}
    wanted = manifest["metadata"]["annotations"]
    same_package: bool = (run.get("spec") or {}).get("packageRef") == manifest["spec"]["packageRef"]
    return same_package and annotations.get(model.ANNOTATION_EVENT) == wanted[model.ANNOTATION_EVENT]


def _refused_namespace(refusal: str) -> dict[str, Any]:
    """The outcome of an event whose namespace's triggers the operator may not read."""
    message = (
        f"the operator may not read the FerrisTriggers of this namespace ({refusal}): is it among the"
        " chart's watchNamespaces? The event starts nothing"
    )
    return {"triggers": [], "runs": [], "refused": [{"reason": reasons.EVENT_REFUSED, "message": message}]}


def _involved(trigger: Trigger) -> dict[str, Any]:
    return {"metadata": {"namespace": trigger.namespace, "name": trigger.name, "uid": trigger.uid}}
