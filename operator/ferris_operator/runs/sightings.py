"""What the watches last showed of runs and their Jobs, kept so that the periodic resync reads
memory instead of listing every FerrisRun and Job again: which runs that have not ended exist,
and each run's Job as far as following it needs. Fed by the FerrisRun and Job event handlers
(kopf's first listing after a start included); a run missing here is read once from the API
server before anything is concluded from its absence."""

from __future__ import annotations

import threading
from typing import Any

from ferris_operator import model, ownership

JOB_METADATA = ("name", "namespace", "uid", "labels", "ownerReferences")


def job_summary(job: dict[str, Any]) -> dict[str, Any]:
    """The part of a Job that following its run reads: names, labels, owners, deadline, conditions."""
    meta = job["metadata"]
    return {
        "metadata": {
            key: meta[key] for key in ("name", "namespace", "uid", "labels", "ownerReferences") if key in meta
        },
        "spec": {"activeDeadlineSeconds": (job.get("spec") or {}).get("activeDeadlineSeconds")},
        "status": {"conditions": (job.get("status") or {}).get("conditions") or []},
    }


class Sightings:
    def __init__(self) -> None:
        self._runs: set[str] = set()  # UIDs of FerrisRuns whose status does not show an end
        self._jobs: dict[str, dict[str, Any]] = {}  # claimed run UID -> Job summary
        self._lock = threading.Lock()

    def run_seen(self, body: dict[str, Any], deleted: bool = False) -> None:
        uid = body["metadata"]["uid"]
        with self._lock:
            if deleted or (body.get("status") or {}).get("phase") in model.TERMINAL:
                self._runs.discard(uid)
            else:
                self._runs.add(uid)

    def job_seen(self, job: dict[str, Any], deleted: bool = False) -> None:
        """A claim only: whoever reads it checks that the run controls the Job."""
        run_uid = ownership.controlling_run_uid(job)
        if run_uid is None:
            return
        with self._lock:
            if not deleted:
                self._jobs[run_uid] = job_summary(job)
            elif (self._jobs.get(run_uid) or {}).get("metadata", {}).get("uid") == job["metadata"].get("uid"):
                del self._jobs[run_uid]

    def has_run(self, uid: str) -> bool:
        with self._lock:
            return uid in self._runs

    def job_of(self, run_uid: str) -> dict[str, Any] | None:
        with self._lock:
            return self._jobs.get(run_uid)

    def sizes(self) -> tuple[int, int]:
        with self._lock:
            return len(self._runs), len(self._jobs)
