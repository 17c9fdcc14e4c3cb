"""The level-based safety net, run periodically: catch up with runs whose Job finished or
vanished, whose FerrisRun was deleted, or whose bundle went missing while nobody watched.
Active runs come from PostgreSQL and their objects from what the watches showed, so this needs
no per-run timer, no finalizer on runs and no LIST."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ferris_operator import model, ownership, reasons
from ferris_operator.bodies import RunBody, run_body
from ferris_operator.ports import KubePort, RunStorePort
from ferris_operator.records import RunRecord
from ferris_operator.runs.follow import Follower
from ferris_operator.runs.gates import RunWaiting
from ferris_operator.runs.outcomes import DELETE_NOW, Outcomes
from ferris_operator.runs.reports import Reports
from ferris_operator.runs.sightings import Sightings
from ferris_operator.runs.start import Starter
from ferris_operator.work import separately

RESYNC_GRACE_SECONDS = 30.0  # younger runs are still in the hands of their create handler
BUNDLE_CHECK_LONGEST = 300.0  # a run stuck in Pending has its bundle looked at again at least this often


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
        clock: Callable[[], float] = time.monotonic,
        proof: ownership.Provenance | None = None,
    ) -> None:
        self.kube = kube
        self.proof = proof or starter.proof
        self.store = store
        self.outcomes = outcomes
        self.starter = starter
        self.follower = follower
        self.reports = reports
        self.sightings = sightings
        self.clock = clock
        self._bundle_checks: dict[str, tuple[float, float]] = {}  # run UID -> (next look, the one after it)

    def resync(self) -> None:
        """Catch up with runs whose Job finished or vanished while nobody was watching.

        Active runs come from PostgreSQL, their FerrisRuns and Jobs from what the watches showed
        (sightings.py): no LIST, so the pass costs the same with 100 or 100,000 finished runs in
        the cluster. The API server is read only for a run the watches do not show (deleted, or
        not listed yet) and for a run whose Job is missing past the grace period."""
        records = list(self.store.active())
        ended = set()
        for record in self._bundles_gone(records):  # a pod that cannot mount its bundle waits forever
            self._bundle_missing(record)
            ended.add(record.uid)
        separately.each(
            "resync",
            (r for r in records if r.uid not in ended),
            self._resync_one,
            lambda record: f"FerrisRun {record.namespace}/{record.name}",
        )

    def _bundles_gone(self, records: list[RunRecord]) -> list[RunRecord]:
        """The runs stuck in Pending (their Job made, past the grace period) whose bundle is gone.
        A stuck run's bundle is looked at when it is first stuck, then 30, 60, 120 s later and so
        on, at least every ``BUNDLE_CHECK_LONGEST``; only the bundles of the runs due are read.
        A burst of runs waiting for a node costs a few small reads per run, where a LIST of every
        bundle in the namespace at each pass cost 11 % of the operator's time through a burst."""
        now = self.clock()
        stuck = {r.uid: r for r in records if r.phase == model.PENDING and self._job(r) and self._past_grace(r)}
        self._bundle_checks = {uid: when for uid, when in self._bundle_checks.items() if uid in stuck}
        due: dict[str, list[RunRecord]] = {}
        for uid, record in stuck.items():
            look_at, interval = self._bundle_checks.get(uid, (now, RESYNC_GRACE_SECONDS))
            if now >= look_at:
                self._bundle_checks[uid] = (now + interval, min(2 * interval, BUNDLE_CHECK_LONGEST))
                due.setdefault(record.namespace, []).append(record)
        gone = []
        for namespace, pending in due.items():
            found = self.kube.bundle_metadata(namespace, [record.uid for record in pending])
            gone += [record for record in pending if not self._has_bundle(record, found)]
        return gone

    def _has_bundle(self, record: RunRecord, found: dict[str, dict[str, Any]]) -> bool:
        bundle = found.get(model.bundle_name(record.name))
        return bundle is not None and self.proof.is_child(bundle, "ConfigMap", record.uid, record.namespace)

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

    def _body(self, record: RunRecord) -> RunBody | None:
        found = self.kube.read("FerrisRun", record.namespace, record.name)
        return run_body(found) if found is not None and found["metadata"].get("uid") == record.uid else None

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
