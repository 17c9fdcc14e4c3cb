"""The level-based safety net, run periodically: catch up with runs whose Job finished or
vanished, whose FerrisRun was deleted, or whose bundle went missing while nobody watched.
Active runs come from PostgreSQL, so this needs no per-run timer (and no finalizer on runs)."""

from __future__ import annotations

from typing import Any

from ferris_operator import isolation, model, ownership, reasons
from ferris_operator.ports import KubePort, RunStorePort
from ferris_operator.records import RunRecord
from ferris_operator.runs.follow import Follower
from ferris_operator.runs.outcomes import DELETE_NOW, Outcomes
from ferris_operator.runs.reports import Reports
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
    ) -> None:
        self.kube = kube
        self.store = store
        self.outcomes = outcomes
        self.starter = starter
        self.follower = follower
        self.reports = reports

    def resync(self) -> None:
        """Catch up with runs whose Job finished or vanished while nobody was watching.

        Two LIST calls per namespace with active runs, whatever their number: a run with a
        live Job needs nothing here (its Job and pod events do the work)."""
        by_namespace: dict[str, list[RunRecord]] = {}
        for record in self.store.active():
            by_namespace.setdefault(record.namespace, []).append(record)
        isolation.each(
            "resync-namespace",
            by_namespace.items(),
            lambda item: self._resync_namespace(*item),
            lambda item: f"namespace {item[0]}",
        )

    def _resync_namespace(self, namespace: str, records: list[RunRecord]) -> None:
        runs = {r["metadata"]["uid"]: r for r in self.kube.list_runs_in(namespace)}
        jobs = {ownership.controlling_run_uid(j): j for j in self.kube.list_run_jobs(namespace)}
        stuck = [r for r in records if r.phase == model.PENDING and r.uid in jobs and self._past_grace(r)]
        if stuck:  # a pod that cannot mount its bundle waits forever: end its run now
            bundles = self.kube.bundle_owners(namespace)
            for record in stuck:
                if bundles.get(model.bundle_name(record.name)) != record.uid:
                    self._bundle_missing(record, jobs.pop(record.uid))
        isolation.each(
            "resync",
            records,
            lambda record: self._resync_one(record, runs.get(record.uid), jobs.get(record.uid)),
            lambda record: f"FerrisRun {record.namespace}/{record.name}",
        )

    @staticmethod
    def _past_grace(record: RunRecord) -> bool:
        return (model.utcnow() - record.created_at).total_seconds() > RESYNC_GRACE_SECONDS

    def _bundle_missing(self, record: RunRecord, job: dict[str, Any]) -> None:
        name = model.bundle_name(record.name)
        self.outcomes.finish(
            record.uid,
            model.FAILED,
            reasons.BUNDLE_MISSING,
            f"the run's ConfigMap {name} was deleted before the runner could read it; create a new FerrisRun",
        )
        self.kube.delete_exact("Job", record.namespace, job["metadata"]["name"], job["metadata"]["uid"], DELETE_NOW)

    def _resync_one(self, record: RunRecord, body: dict[str, Any] | None, job: dict[str, Any] | None) -> None:
        if record.unpublished and body is not None:  # a report whose notification nobody heard
            self.reports.take_up(record)
            if record.runner_succeeded is not None:
                return
        if body is None:
            self.outcomes.finish(
                record.uid, model.CANCELLED, reasons.RUN_DELETED, "the FerrisRun was deleted before it finished"
            )
        elif job is not None:
            self.follower.on_job(job)
        elif self._past_grace(record):
            try:
                self.starter.start(body)  # the Job was never created, or was deleted: recreate it
            except RunWaiting:
                return
