"""The level-based safety net, run periodically: catch up with runs whose Job finished or
vanished, whose FerrisRun was deleted, or whose bundle went missing while nobody watched.
Active runs come from PostgreSQL and their objects from what the watches showed, so this needs
no per-run timer, no finalizer on runs and no LIST."""

from __future__ import annotations

from typing import Any

from ferris_operator import isolation, model, reasons
from ferris_operator.ports import KubePort, RunStorePort
from ferris_operator.records import RunRecord
from ferris_operator.runs.follow import Follower
from ferris_operator.runs.outcomes import DELETE_NOW, Outcomes
from ferris_operator.runs.reports import Reports
from ferris_operator.runs.sightings import Sightings
from ferris_operator.runs.start import RunWaiting, Starter

RESYNC_GRACE_SECONDS = 30.0  # younger runs are still in the hands of their create handler


class Resync:
    def __init__(
        self,
        kube: KubePort,
        store: RunStorePort,
        outcomes: Outcomes,
        starter: Starter,
        follower: Follower,
        reports: Reports,
        sightings: Sightings,
    ) -> None:
        self.kube = kube
        self.store = store
        self.outcomes = outcomes
        self.starter = starter
        self.follower = follower
        self.reports = reports
        self.sightings = sightings

    def resync(self) -> None:
        """Catch up with runs whose Job finished or vanished while nobody was watching.

        Active runs come from PostgreSQL, their FerrisRuns and Jobs from what the watches showed
        (sightings.py): no LIST, so the pass costs the same with 100 or 100,000 finished runs in
        the cluster. The API server is read only for a run the watches do not show (deleted, or
        not listed yet) and for a run whose Job is missing past the grace period."""
        records = list(self.store.active())
        stuck: dict[str, list[RunRecord]] = {}
        for record in records:
            if record.phase == model.PENDING and self._job(record) and self._past_grace(record):
                stuck.setdefault(record.namespace, []).append(record)
        ended = set()
        for namespace, pending in stuck.items():  # a pod that cannot mount its bundle waits forever
            bundles = self.kube.bundle_owners(namespace)
            for record in pending:
                if bundles.get(model.bundle_name(record.name)) != record.uid:
                    self._bundle_missing(record)
                    ended.add(record.uid)
        isolation.each(
            "resync",
            (r for r in records if r.uid not in ended),
            self._resync_one,
            lambda record: f"FerrisRun {record.namespace}/{record.name}",
        )

    @staticmethod
    def _past_grace(record: RunRecord) -> bool:
        return (model.utcnow() - record.created_at).total_seconds() > RESYNC_GRACE_SECONDS

    def _bundle_missing(self, record: RunRecord) -> None:
        name = model.bundle_name(record.name)
        self.outcomes.finish(
            record.uid,
            model.FAILED,
            reasons.BUNDLE_MISSING,
            f"the run's ConfigMap {name} was deleted before the runner could read it; create a new FerrisRun",
        )
        self.outcomes.delete_child("Job", record.namespace, model.job_name(record.name), record.uid, DELETE_NOW)

    def _job(self, record: RunRecord) -> dict[str, Any] | None:
        return self.sightings.job_of(record.namespace, model.job_name(record.name))

    def _body(self, record: RunRecord) -> dict[str, Any] | None:
        body = self.kube.read("FerrisRun", record.namespace, record.name)
        return body if body is not None and body["metadata"].get("uid") == record.uid else None

    def _resync_one(self, record: RunRecord) -> None:
        body = None if self.sightings.has_run(record.uid) else self._body(record)
        if body is None and not self.sightings.has_run(record.uid):
            self.outcomes.finish(
                record.uid, model.CANCELLED, reasons.RUN_DELETED, "the FerrisRun was deleted before it finished"
            )
            return
        if record.unpublished:  # a report whose notification nobody heard
            self.reports.take_up(record.uid)
            if record.runner_succeeded is not None:
                return
        job = self._job(record)
        if job is not None:
            self.follower.on_job(job)
        elif self._past_grace(record) and (body := body or self._body(record)) is not None:
            try:
                self.starter.start(body)  # the Job was never created, or was deleted: recreate it
            except RunWaiting:
                return
