"""kopf handlers: thin. Each one hands the object to a service and turns outcomes into
status, Events and kopf's retry signals."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import kopf

from ferris_operator import isolation, metrics, model, reasons
from ferris_operator.builders import run_status
from ferris_operator.k8s.objects import Kube
from ferris_operator.package_service import PackageService
from ferris_operator.runs import RunService, RunWaiting
from ferris_operator.store.db import DATABASE_ERRORS
from ferris_operator.vault import Vault

log = logging.getLogger("ferris.handlers")
DB_RETRY_SECONDS = 3


@dataclass
class Components:
    kube: Kube
    vault: Vault
    runs: RunService
    packages: PackageService


_components: Components | None = None


def install(components: Components) -> None:
    global _components
    _components = components


def c() -> Components:
    assert _components is not None, "handlers.install() was not called"
    return _components


def _database_down(kind: str, body: dict[str, Any], plural: str) -> kopf.TemporaryError:
    metrics.DATABASE_ERRORS.inc()
    metrics.RECONCILE_ERRORS.labels(kind, reasons.DATABASE_UNAVAILABLE).inc()
    meta = body["metadata"]
    message = "PostgreSQL is unavailable; waiting for it to return (nothing is lost)"
    conditions = (body.get("status") or {}).get("conditions")
    generation = meta.get("generation")
    ready = model.condition("Ready", False, reasons.DATABASE_UNAVAILABLE, message, generation, conditions)
    reconciling = model.condition("Reconciling", True, reasons.DATABASE_UNAVAILABLE, message, generation, conditions)
    try:
        c().kube.patch_status(
            plural,
            meta["namespace"],
            meta["name"],
            {"conditions": model.merge_conditions(conditions, ready, reconciling)},
        )
    except Exception:
        log.warning("could not report DatabaseUnavailable on %s/%s", meta["namespace"], meta["name"])
    return kopf.TemporaryError(message, delay=DB_RETRY_SECONDS)


def _guarded(kind: str, plural: str, body: dict[str, Any], action: Callable[[], None]) -> None:
    try:
        action()
    except DATABASE_ERRORS:
        raise _database_down(kind, body, plural) from None


# ---- FerrisRun ----------------------------------------------------------------------------------
def _run_active(body: kopf.Body, **_: Any) -> bool:
    return (body.get("status") or {}).get("phase") not in model.TERMINAL


@kopf.on.resume(model.GROUP, model.VERSION, model.RUNS, when=_run_active)
@kopf.on.create(model.GROUP, model.VERSION, model.RUNS)
def run_started(body: kopf.Body, **_: Any) -> None:
    raw = dict(body)
    try:
        _guarded("FerrisRun", model.RUNS, raw, lambda: c().runs.start(raw))
    except RunWaiting as waiting:
        meta = raw["metadata"]
        c().kube.patch_status(
            model.RUNS,
            meta["namespace"],
            meta["name"],
            run_status.waiting_on(
                waiting.reason, waiting.message, meta.get("generation"), (raw.get("status") or {}).get("conditions")
            ),
        )
        raise kopf.TemporaryError(waiting.message, delay=2) from None


@kopf.on.field(model.GROUP, model.VERSION, model.RUNS, field="spec.cancel")
def run_cancel_requested(body: kopf.Body, new: Any, **_: Any) -> None:
    if new and _run_active(body):
        raw = dict(body)
        _guarded("FerrisRun", model.RUNS, raw, lambda: c().runs.cancel(raw))


@kopf.on.event("batch", "v1", "jobs", labels={model.LABEL_RUN_UID: kopf.PRESENT})
def job_event(body: kopf.Body, **_: Any) -> None:
    try:
        c().runs.on_job(dict(body))
    except DATABASE_ERRORS:
        metrics.DATABASE_ERRORS.inc()  # the periodic resync catches up later


@kopf.on.event("", "v1", "pods", labels={model.LABEL_RUN_UID: kopf.PRESENT})
def pod_event(body: kopf.Body, **_: Any) -> None:
    try:
        c().runs.on_pod(dict(body))
    except DATABASE_ERRORS:
        metrics.DATABASE_ERRORS.inc()


# ---- FerrisPackage ------------------------------------------------------------------------------
@kopf.on.resume(model.GROUP, model.VERSION, model.PACKAGES)
@kopf.on.create(model.GROUP, model.VERSION, model.PACKAGES)
@kopf.on.update(model.GROUP, model.VERSION, model.PACKAGES)  # spec, labels or annotations
def package_changed(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    _reconcile_package(dict(body), patch.status.update)


def resync_package_sources() -> None:
    """Periodic (60 s): re-read the source Secret of packages with ``spec.secretsFrom`` (kept,
    or created again to re-upload). Not a kopf timer: kopf keeps the latest body of every
    object of a resource that has a timer, which with 10,000 packages is 100 MiB and more."""
    kube = c().kube

    def reread(raw: dict[str, Any]) -> None:
        meta = raw["metadata"]
        write = functools.partial(kube.patch_status, model.PACKAGES, meta["namespace"], meta["name"])
        with contextlib.suppress(kopf.TemporaryError):  # reported in status; the next pass tries again
            _reconcile_package(raw, write)

    isolation.each(
        "package-sources",
        (
            raw
            for raw in kube.iter_packages(c().runs.settings.watch_namespaces)
            if raw["spec"].get("secretsFrom") and not raw["metadata"].get("deletionTimestamp")
        ),
        reread,
        lambda raw: f"FerrisPackage {raw['metadata']['namespace']}/{raw['metadata']['name']}",
    )


def _reconcile_package(raw: dict[str, Any], write_status: Callable[[dict[str, Any]], None]) -> None:
    try:
        outcome = c().packages.reconcile(raw)
    except DATABASE_ERRORS:
        raise _database_down("FerrisPackage", raw, model.PACKAGES) from None
    current = raw.get("status") or {}
    if any(current.get(key) != value for key, value in outcome.status.items()):
        write_status(outcome.status)  # a resume of an unchanged package writes nothing
    for warning in outcome.warnings:
        c().kube.event(raw, "FerrisPackage", reasons.SHORT_SECRET_NOT_MASKED, warning)
    if outcome.problem:
        reason, message = outcome.problem.reason, outcome.problem.message
        metrics.RECONCILE_ERRORS.labels("FerrisPackage", reason).inc()
        previous = (raw.get("status") or {}).get("conditions") or []
        already = any(cond.get("reason") == reason and cond.get("message") == message for cond in previous)
        if not already:
            c().kube.event(raw, "FerrisPackage", reason, message)
        if outcome.problem.retry:
            raise kopf.TemporaryError(message, delay=5)


@kopf.on.delete(model.GROUP, model.VERSION, model.PACKAGES)
def package_deleted(body: kopf.Body, **_: Any) -> None:
    raw = dict(body)
    _guarded("FerrisPackage", model.PACKAGES, raw, lambda: c().vault.forget(raw["metadata"]["uid"]))


def publish_last_runs() -> None:
    """Periodic (every second): packages' status.lastRun."""
    c().runs.publish_last_runs()


def clean_recent_history() -> None:
    """Periodic: history limits of the packages whose runs finished since the last call."""
    c().runs.sweep_history(everything=False)


def sweep_history() -> None:
    """Periodic: TTLs and history limits of every package."""
    c().runs.sweep_history(everything=True)


def resync_active_runs() -> None:
    """Level-based safety net, run periodically: catch up with Job and pod changes missed while
    the operator or the database was down. Active runs come from PostgreSQL, so this needs no
    per-run timer (and no finalizer on runs)."""
    try:
        c().runs.resync_active()
    except DATABASE_ERRORS:
        metrics.DATABASE_ERRORS.inc()
