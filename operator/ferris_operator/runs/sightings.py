"""What the watches last showed of runs and their Jobs, kept so that the periodic passes read
memory instead of listing every FerrisRun and Job again: which runs that have not ended exist,
each run's Job as far as following it needs (the resync), and the finished runs still in the
cluster, by package, in brief (the history limits and TTLs). Fed by the FerrisRun and Job event
handlers (kopf's first listing after a start included); a run missing here is read once from
the API server before anything is concluded from its absence."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from ferris_operator import model, ownership
from ferris_operator.bodies import RunBody

JOB_METADATA = ("name", "namespace", "uid", "labels", "ownerReferences")


def job_summary(job: dict[str, Any]) -> dict[str, Any]:
    """The part of a Job that following its run reads: names, labels, owners, the operator's
    stamp (no other annotation), deadline, conditions."""
    meta = job["metadata"]
    stamp = (meta.get("annotations") or {}).get(model.ANNOTATION_STAMP)
    return {
        "metadata": {key: meta[key] for key in ("name", "namespace", "uid", "labels", "ownerReferences") if key in meta}
        | ({"annotations": {model.ANNOTATION_STAMP: stamp}} if stamp else {}),
        "spec": {"activeDeadlineSeconds": (job.get("spec") or {}).get("activeDeadlineSeconds")},
        "status": {"conditions": (job.get("status") or {}).get("conditions") or []},
    }


@dataclass(frozen=True)
class FinishedRun:
    """A finished FerrisRun still in the cluster, as much as its history limits need."""

    uid: str
    name: str
    phase: str
    completion_time: str


PackageKey = tuple[str, str]  # namespace, package name


class Sightings:
    def __init__(self) -> None:
        self._runs: set[str] = set()  # UIDs of FerrisRuns whose status does not show an end
        # (namespace, name) -> summary of a Job that claims a run: looked up by the name the run
        # gives its Job, so a Job elsewhere claiming the same run cannot hide the run's own
        self._jobs: dict[tuple[str, str], dict[str, Any]] = {}
        self._finished: dict[PackageKey, dict[str, FinishedRun]] = {}
        self._newly_finished: set[PackageKey] = set()  # packages whose finished runs the watch just showed
        self._lock = threading.Lock()

    def run_seen(self, body: RunBody, deleted: bool = False) -> None:
        meta, status = body["metadata"], body.get("status") or {}
        uid, phase = meta["uid"], status.get("phase")
        ref = body["spec"].get("packageRef")
        key = (meta["namespace"], ref["name"] if ref else "")
        finished = not deleted and phase in model.TERMINAL and bool(status.get("completionTime"))
        with self._lock:
            if deleted or phase in model.TERMINAL:
                self._runs.discard(uid)
            else:
                self._runs.add(uid)
            if finished:
                if uid not in self._finished.get(key, {}):
                    self._newly_finished.add(key)
                self._finished.setdefault(key, {})[uid] = FinishedRun(
                    uid, meta["name"], str(phase), str(status["completionTime"])
                )
            elif uid in self._finished.get(key, {}):
                del self._finished[key][uid]
                if not self._finished[key]:
                    del self._finished[key]

    def finished_runs(self, keys: set[PackageKey] | None = None) -> dict[PackageKey, list[FinishedRun]]:
        """The finished runs still in the cluster of the packages ``keys`` (every package when None)."""
        with self._lock:
            return {key: list(runs.values()) for key, runs in self._finished.items() if keys is None or key in keys}

    def take_newly_finished(self) -> set[PackageKey]:
        """The packages with runs shown finished since the last call (the history's quick pass)."""
        with self._lock:
            newly, self._newly_finished = self._newly_finished, set()
        return newly

    def job_seen(self, job: dict[str, Any], deleted: bool = False) -> None:
        """A claim only: whoever reads it checks that the run controls the Job."""
        meta = job["metadata"]
        if ownership.controlling_run_uid(job) is None:
            return
        key = (str(meta.get("namespace")), str(meta.get("name")))
        with self._lock:
            if not deleted:
                self._jobs[key] = job_summary(job)
            elif (self._jobs.get(key) or {}).get("metadata", {}).get("uid") == meta.get("uid"):
                del self._jobs[key]

    def has_run(self, uid: str) -> bool:
        with self._lock:
            return uid in self._runs

    def job_of(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Job of that name in that namespace, if one claiming a run was seen."""
        with self._lock:
            return self._jobs.get((namespace, name))

    def sizes(self) -> tuple[int, int, int]:
        """Runs not ended, Jobs, finished runs."""
        with self._lock:
            return len(self._runs), len(self._jobs), sum(len(runs) for runs in self._finished.values())
