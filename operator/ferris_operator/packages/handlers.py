"""The FerrisPackage room's kopf handlers: thin. A package's reconcile is the service's
(``packages/service.py``); here its outcome becomes status, Events and kopf's retry signal, the
index of packages with a source Secret is kept, and the rooms that keep their own table of
packages (the scheduler) are told, through ``PackageObserver``, never an import."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Sequence
from typing import Any

import kopf

from ferris_operator import model, reasons
from ferris_operator.bodies import PackageBody, package_body
from ferris_operator.holders import Holders
from ferris_operator.packages.index import PackageName, SourcedPackages
from ferris_operator.packages.service import PackageService
from ferris_operator.ports import KubePort, PackageObserver, VaultPort
from ferris_operator.problems import KeyProviderUnavailable
from ferris_operator.process import metrics
from ferris_operator.settings import Intervals
from ferris_operator.store.db import DATABASE_ERRORS
from ferris_operator.work import separately
from ferris_operator.work.loops import Loop

PACKAGES = (model.GROUP, model.VERSION, model.PACKAGES)


class PackageHandlers:
    def __init__(
        self,
        packages: PackageService,
        kube: KubePort,
        vault: VaultPort,
        holders: Holders,
        intervals: Intervals,
        observers: Sequence[PackageObserver] = (),
    ) -> None:
        self.packages = packages
        self.kube = kube
        self.vault = vault
        self.holders = holders
        self.intervals = intervals
        self.observers = tuple(observers)
        self.sourced = SourcedPackages()  # the packages the source re-read looks at

    def register(self, registry: kopf.OperatorRegistry) -> None:
        """The package handlers, under the ids kopf has always stored them with."""
        on = kopf.on
        for reacts in (on.resume, on.create, on.update):  # update: spec, labels or annotations
            reacts(*PACKAGES, registry=registry, id="package_changed")(self.package_changed)
        on.delete(*PACKAGES, registry=registry, id="package_deleted")(self.package_deleted)

    def loops(self) -> tuple[Loop, ...]:
        return (Loop("re-read of source Secrets", self.intervals.source_resync, self.resync_package_sources),)

    def package_changed(self, body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
        raw = package_body(body)
        self.sourced.observe(raw)  # before the reconcile: a missing source is what the re-read waits for
        for observer in self.observers:  # kept whatever the reconcile says: runs report the package's state
            observer.observe(raw)
        self._reconcile_package(raw, patch.status.update)

    def package_deleted(self, body: kopf.Body, **_: Any) -> None:
        raw = package_body(body)
        self.sourced.forget(raw)
        for observer in self.observers:
            observer.forget(raw["metadata"]["uid"])
        self.holders.guarded("FerrisPackage", model.PACKAGES, raw, lambda: self.vault.forget(raw["metadata"]["uid"]))

    def _reconcile_package(self, raw: PackageBody, write_status: Callable[[dict[str, Any]], None]) -> None:
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
