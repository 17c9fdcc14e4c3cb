"""kopf handlers of FerrisProjectSecrets and FerrisPlatformSecrets, and the periodic work of
secret scopes: re-reading their sources, and announcing what scripts wrote (an Event on the
run and on the scope, the scope's status brought up to date)."""

from __future__ import annotations

import datetime
import functools
import logging
from typing import Any

import kopf

from ferris_operator import model, reasons
from ferris_operator.bodies import ScopeBody, scope_body
from ferris_operator.holders import Holders
from ferris_operator.ports import KubePort, ScopeStorePort
from ferris_operator.process import metrics
from ferris_operator.records import SecretWrite
from ferris_operator.secret_scopes.service import ScopeSecretsService
from ferris_operator.settings import Intervals
from ferris_operator.store.db import DATABASE_ERRORS
from ferris_operator.work.loops import Loop

log = logging.getLogger("ferris.handlers")
PROJECT, PLATFORM = "FerrisProjectSecrets", "FerrisPlatformSecrets"
PLURALS = {PROJECT: model.PROJECT_SECRETS, PLATFORM: model.PLATFORM_SECRETS}


def kind_of(body: ScopeBody) -> str:
    return PROJECT if body["metadata"].get("namespace") else PLATFORM


class ScopeHandlers:
    def __init__(
        self,
        holders: Holders,
        service: ScopeSecretsService,
        store: ScopeStorePort,
        kube: KubePort,
        intervals: Intervals,
        audit_retention_days: float,
    ) -> None:
        self.holders = holders
        self.service = service
        self.store = store
        self.kube = kube
        self.intervals = intervals
        self.audit_retention_days = audit_retention_days

    def loops(self) -> tuple[Loop, ...]:
        every = self.intervals
        return (
            Loop("re-read of project and platform secrets' sources", every.source_resync, self.resync),
            Loop("secrets written by scripts, announced", every.events, self.announce_writes),
            Loop("the write audit past its retention", every.events_expiry, self.expire_audit),
        )

    def expire_audit(self) -> None:
        """The audit of scripts' writes and refusals past its retention."""
        self.store.expire_writes(model.utcnow() - datetime.timedelta(days=self.audit_retention_days))

    def register(self, registry: kopf.OperatorRegistry) -> None:
        on = kopf.on
        for kind, plural in PLURALS.items():
            resource = (model.GROUP, model.VERSION, plural)
            changed = f"{'project' if kind == PROJECT else 'platform'}_secrets_changed"
            deleted = f"{'project' if kind == PROJECT else 'platform'}_secrets_deleted"
            for reacts in (on.resume, on.create, on.update):
                reacts(*resource, registry=registry, id=changed)(self.changed)
            on.delete(*resource, registry=registry, id=deleted)(self.deleted)

    def changed(self, body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
        raw = scope_body(body)
        kind = kind_of(raw)
        self.holders.reconcile(kind, PLURALS[kind], self.service.reconcile, raw, patch.status.update)

    def deleted(self, body: kopf.Body, **_: Any) -> None:
        raw = scope_body(body)
        kind = kind_of(raw)
        self.holders.guarded(kind, PLURALS[kind], raw, lambda: self.service.forget(raw["metadata"]["uid"]))

    def resync(self) -> None:
        """Re-read every scope's source Secret (one created again is a rotation)."""
        self.holders.resync(PROJECT, model.PROJECT_SECRETS, self.service.reconcile, scope_body)
        self.holders.resync(PLATFORM, model.PLATFORM_SECRETS, self.service.reconcile, scope_body, cluster_scoped=True)

    def announce_writes(self) -> None:
        """Every write and refusal not announced yet: an Event on the writing run (and, for a
        write, on the scope), then the scope's status shows its new version and names."""
        try:
            writes = self.store.unannounced()
        except DATABASE_ERRORS:
            metrics.DATABASE_ERRORS.inc()
            return
        if not writes:
            return
        touched: set[tuple[str, str, str]] = set()
        refused: dict[str, list[SecretWrite]] = {}  # run uid -> its refusals: one Event each run, counted
        for write in writes:
            if write.outcome != "written":
                refused.setdefault(write.run_uid, []).append(write)
                continue
            self._announce(write)
            touched.add(_scope_object(write))
        for refusals in refused.values():
            self._announce_refused(refusals)
        for kind, namespace, name in sorted(touched):
            found = self.kube.get_custom(PLURALS[kind], namespace, name)
            if found is not None:
                update = functools.partial(self.kube.patch_status, PLURALS[kind], namespace, name)
                try:
                    self.holders.reconcile(kind, PLURALS[kind], self.service.reconcile, scope_body(found), update)
                except kopf.TemporaryError:
                    log.info("status of %s %s/%s waits for the next pass", kind, namespace, name)
        try:
            self.store.announced([write.seq for write in writes])
        except DATABASE_ERRORS:
            metrics.DATABASE_ERRORS.inc()

    def _announce_refused(self, refusals: list[SecretWrite]) -> None:
        """A run's refused writes of one pass as one Event: the first reason, and how many."""
        first = refusals[0]
        run = {"metadata": {"namespace": first.run_namespace, "name": first.run_name, "uid": first.run_uid}}
        more = f" (and {len(refusals) - 1} more refused writes of this run)" if len(refusals) > 1 else ""
        self.kube.event(run, "FerrisRun", reasons.SECRET_WRITE_REFUSED, first.message + more)

    def _announce(self, write: SecretWrite) -> None:
        run = {"metadata": {"namespace": write.run_namespace, "name": write.run_name, "uid": write.run_uid}}
        self.kube.event(run, "FerrisRun", reasons.SECRET_WRITTEN, write.message, "Normal")
        kind, namespace, name = _scope_object(write)
        scope = {"metadata": {"namespace": namespace, "name": name, "uid": write.scope_uid}}
        by = f"{write.message}, by run {write.run_namespace}/{write.run_name} of package {write.package_name}"
        self.kube.event(scope, kind, reasons.SECRET_WRITTEN, by, "Normal")


def _scope_object(write: SecretWrite) -> tuple[str, str, str]:
    """(kind, namespace, name) of the object that holds the scope a write went to."""
    if write.scope == "project":
        return PROJECT, write.run_namespace, model.PROJECT_SECRETS_NAME
    return PLATFORM, "", write.scope.removeprefix("platform/")
