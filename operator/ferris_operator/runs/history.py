"""Finished runs: each package's status.lastRun, and runs past their package's history limits
or TTL deleted from the cluster (PostgreSQL keeps them). Periodic, never per finished run."""

from __future__ import annotations

import datetime
import threading
from typing import Any

from ferris_operator import model
from ferris_operator.ports import KubePort, RunStorePort
from ferris_operator.records import RunRecord
from ferris_operator.runs.sightings import FinishedRun, Sightings
from ferris_operator.settings import Settings
from ferris_operator.work import separately


class History:
    def __init__(self, kube: KubePort, store: RunStorePort, settings: Settings, sightings: Sightings) -> None:
        self.kube = kube
        self.store = store
        self.settings = settings
        self.sightings = sightings  # the finished runs still in the cluster, from the watch
        self._recent: set[tuple[str, str]] = set()  # (namespace, package) with a TTL due soon
        self._last_runs: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()

    def finished(self, record: RunRecord, phase: str) -> None:
        """Note a run that has just ended, for the next lastRun write. (The history's quick pass
        learns of it from the watch, once its status shows the end: ``take_newly_finished``.)"""
        with self._lock:
            key = (record.namespace, record.package_name)
            self._last_runs[key] = {
                "name": record.name,
                "phase": phase,
                "completionTime": model.timestamp(record.finished_at),
            }

    def publish_last_runs(self) -> None:
        """Write each package's status.lastRun, once per call however many of its runs finished
        since the last (a burst of a thousand runs is not a thousand writes to one object)."""
        with self._lock:
            pending, self._last_runs = self._last_runs, {}
        separately.each(
            "last-run",
            pending.items(),
            lambda item: self.kube.patch_status(model.PACKAGES, item[0][0], item[0][1], {"lastRun": item[1]}),
            lambda item: f"FerrisPackage {item[0][0]}/{item[0][1]}",
        )

    def sweep(self, everything: bool) -> None:
        """Delete finished runs past their package's history limits or TTL; PostgreSQL keeps
        them. The finished runs come from what the FerrisRun watch showed (no LIST: the pass
        costs the same however many runs the cluster holds), then one GET per package with
        finished runs. ``everything`` sweeps every package (for TTLs); otherwise only those
        with runs finished since the last sweep."""
        with self._lock:
            recent, self._recent = self._recent, set()  # TTLs due before the full sweep
        recent |= self.sightings.take_newly_finished()  # runs the watch has just shown finished
        if not everything and not recent:
            return
        by_package = self.sightings.finished_runs(None if everything else recent)
        watched = self.settings.watch_namespaces
        separately.each(
            "history",
            ((key, runs) for key, runs in by_package.items() if not watched or key[0] in watched),
            lambda item: self._prune(item[0][0], item[0][1], item[1]),
            lambda item: f"history of FerrisPackage {item[0][0]}/{item[0][1]}",
        )

    def _prune(self, namespace: str, package_name: str, finished: list[FinishedRun]) -> None:
        """Delete those of the package's ``finished`` runs beyond its limits or past its TTL."""
        package = self.kube.get_package(namespace, package_name)
        if package is None:
            return
        spec = package["spec"]
        ttl = spec.get("ttlSecondsAfterFinished")
        limits = {
            model.SUCCEEDED: spec.get("successfulRunsHistoryLimit", 10),
            model.FAILED: spec.get("failedRunsHistoryLimit", 10),
            model.CANCELLED: spec.get("failedRunsHistoryLimit", 10),
        }
        # Newest first. status.completionTime has whole seconds; PostgreSQL breaks the ties of
        # runs that finished within the same second.
        precise = self.store.finish_times([r.uid for r in finished])

        def finished_at(run: FinishedRun) -> datetime.datetime:
            return precise.get(run.uid) or model.parse_timestamp(run.completion_time)

        finished.sort(key=finished_at, reverse=True)
        kept: dict[str, int] = {}
        now = model.utcnow()
        for run in finished:
            kept[run.phase] = kept.get(run.phase, 0) + 1
            age = (now - finished_at(run)).total_seconds()
            if kept[run.phase] > limits.get(run.phase, 10) or (ttl is not None and age > ttl):
                self.kube.delete_run(namespace, run.name)
            elif ttl is not None and ttl - age < self.settings.intervals.history_sweep:
                with self._lock:  # due before the full sweep: the quick pass looks again
                    self._recent.add((namespace, package_name))
