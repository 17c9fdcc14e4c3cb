"""What every kind of handler shares: turning a database or key provider outage into a condition
and a retry, and reconciling the objects that hold a key or secrets in the vault (event
sources, project and platform secrets) from a watch or a periodic re-read."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import kopf

from ferris_operator import model, reasons
from ferris_operator.k8s.errors import API_UNREACHABLE
from ferris_operator.ports import KubePort
from ferris_operator.problems import KeyProviderUnavailable, MasterKeyMismatch, Problem
from ferris_operator.process import metrics
from ferris_operator.settings import Settings
from ferris_operator.store.db import DATABASE_ERRORS
from ferris_operator.work import separately

log = logging.getLogger("ferris.handlers")

Body = TypeVar("Body", bound=Mapping[str, Any])  # the holder kind's body (bodies.py)
Reconcile = Callable[[Body], tuple[dict[str, Any], Problem | None]]


def _named(kind: str, meta: dict[str, Any]) -> str:
    return f"{kind} {meta['namespace']}/{meta['name']}" if meta.get("namespace") else f"{kind} {meta['name']}"


class Holders:
    def __init__(self, kube: KubePort, settings: Settings) -> None:
        self.kube = kube
        self.settings = settings
        self.intervals = settings.intervals

    def guarded(self, kind: str, plural: str, body: Mapping[str, Any], action: Callable[[], None]) -> None:
        try:
            action()
        except DATABASE_ERRORS:
            raise self.database_down(kind, body, plural) from None
        except KeyProviderUnavailable as down:
            raise self.key_provider_down(kind, body, plural, down) from None
        except API_UNREACHABLE:  # nothing to write the condition to: try again shortly
            raise kopf.TemporaryError("the API server cannot be reached", delay=self.intervals.database_retry) from None

    def database_down(self, kind: str, body: Mapping[str, Any], plural: str) -> kopf.TemporaryError:
        metrics.DATABASE_ERRORS.inc()
        message = "PostgreSQL is unavailable; waiting for it to return (nothing is lost)"
        return self._waiting(kind, body, plural, reasons.DATABASE_UNAVAILABLE, message)

    def key_provider_down(
        self, kind: str, body: Mapping[str, Any], plural: str, down: KeyProviderUnavailable
    ) -> kopf.TemporaryError:
        metrics.KEY_PROVIDER_ERRORS.inc()
        message = f"{down}; waiting for the key provider to return (nothing is re-encrypted or lost)"
        return self._waiting(kind, body, plural, reasons.KEY_PROVIDER_UNAVAILABLE, message)

    def _waiting(
        self, kind: str, body: Mapping[str, Any], plural: str, reason: str, message: str
    ) -> kopf.TemporaryError:
        """Ready False and Reconciling True with ``reason`` (a dependency that heals by itself),
        and kopf's retry."""
        metrics.RECONCILE_ERRORS.labels(kind, reason).inc()
        meta = body["metadata"]
        conditions = (body.get("status") or {}).get("conditions")
        generation = meta.get("generation")
        ready = model.condition("Ready", False, reason, message, generation, conditions)
        reconciling = model.condition("Reconciling", True, reason, message, generation, conditions)
        try:
            status = {"conditions": model.merge_conditions(conditions, ready, reconciling)}
            self.kube.patch_status(plural, meta.get("namespace") or "", meta["name"], status)
        except Exception:
            log.warning("could not report %s on %s", reason, _named(kind, meta))
        return kopf.TemporaryError(message, delay=self.intervals.database_retry)

    def reconcile(
        self,
        kind: str,
        plural: str,
        reconcile: Reconcile[Body],
        raw: Body,
        write_status: Callable[[dict[str, Any]], None],
    ) -> None:
        """Reconcile an object that holds a key or secrets in the vault: status written when it
        changed, an Event for a new problem, a retry for one that heals by itself."""
        try:
            status, problem = reconcile(raw)
        except DATABASE_ERRORS:
            raise self.database_down(kind, raw, plural) from None
        except KeyProviderUnavailable as down:
            raise self.key_provider_down(kind, raw, plural, down) from None
        except MasterKeyMismatch as mismatch:
            status, problem = self.key_mismatch(raw, str(mismatch))
        current = raw.get("status") or {}
        if any(current.get(key) != value for key, value in status.items()):
            write_status(status)
            if problem is not None:
                self.kube.event(raw, kind, problem.reason, problem.message)
        if problem is not None and problem.retry:
            raise kopf.TemporaryError(problem.message, delay=self.intervals.package_retry)

    @staticmethod
    def key_mismatch(raw: Mapping[str, Any], message: str) -> tuple[dict[str, Any], Problem]:
        """Ready False with MasterKeyMismatch: nothing is stored or changed until the master key
        this database was written with is mounted (then the operator's restart reconciles)."""
        meta, previous = raw["metadata"], (raw.get("status") or {}).get("conditions")
        problem = Problem(reasons.MASTER_KEY_MISMATCH, message)
        ready = model.condition("Ready", False, problem.reason, message, meta.get("generation"), previous)
        status = {"observedGeneration": meta.get("generation"), "conditions": model.merge_conditions(previous, ready)}
        return status, problem

    def resync(
        self,
        kind: str,
        plural: str,
        reconcile: Reconcile[Body],
        typed: Callable[[Mapping[str, Any]], Body],
        cluster_scoped: bool = False,
    ) -> None:
        """Reconcile every such object again (a source Secret created again is a rotation; a
        version a script wrote shows in status), one failure never stopping the others.
        ``typed`` names a listed object as the kind's body."""

        def reread(raw: dict[str, Any]) -> None:
            meta = raw["metadata"]
            write = functools.partial(self.kube.patch_status, plural, meta.get("namespace") or "", meta["name"])
            with contextlib.suppress(kopf.TemporaryError):
                self.reconcile(kind, plural, reconcile, typed(raw), write)

        namespaces = () if cluster_scoped else self.settings.watch_namespaces
        found = self.kube.iter_custom(plural, namespaces)
        separately.each(
            plural,
            # One its handler has not reconciled at this generation yet is the handler's (kopf
            # retries it): from a listing older than the handler's work, it would take in again.
            (o for o in found if model.reconciled(o) and not o["metadata"].get("deletionTimestamp")),
            reread,
            lambda raw: _named(kind, raw["metadata"]),
        )
