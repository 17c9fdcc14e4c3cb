"""A run's outcome: finished exactly once (the store's conditional update decides), its key
Secret deleted, its status published, an Event, metrics, and the note for history.

A run's status is written by one thread at a time, from the store as read under the run's lock
(``held``): a status built from a read made before the run ended can never land after its end.
The runner's reports, the Job's end, the catch-up and the resync all publish through here."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from ferris_operator import model, ownership, reasons
from ferris_operator.bodies import Condition, RunBody
from ferris_operator.builders import run_status
from ferris_operator.ports import KubePort, RunStorePort
from ferris_operator.problems import Problem
from ferris_operator.process import metrics
from ferris_operator.records import RunRecord
from ferris_operator.runs.history import History
from ferris_operator.runs.retries import Retries
from ferris_operator.work import separately
from ferris_operator.work.deferred import KeyedLocks

DELETE_NOW = {"propagationPolicy": "Background", "gracePeriodSeconds": 0}


class Outcomes:
    def __init__(
        self, kube: KubePort, store: RunStorePort, history: History, retries: Retries, proof: ownership.Provenance
    ) -> None:
        self.kube = kube
        self.proof = proof
        self.store = store
        self.history = history
        self.retries = retries
        self._publishing: KeyedLocks[str] = KeyedLocks()

    @contextlib.contextmanager
    def held(self, uid: str) -> Iterator[None]:
        """The run's lock: whoever reads a run to publish what it read holds it from the read to the
        write (reentrant: ``finish`` inside it takes it again)."""
        with self._publishing.held(uid):
            yield

    def publish(
        self,
        uid: str,
        generation: int | None = None,
        previous_conditions: Sequence[Condition] | None = None,
        waiting: tuple[str, str] | None = None,
    ) -> None:
        """Show the run as the store has it now (``waiting``: why a Pending run waits, if known)."""
        with self.held(uid):
            record = self.store.get(uid)
            if record is not None:
                self.show(record, generation, previous_conditions, waiting)

    def show(
        self,
        record: RunRecord,
        generation: int | None = None,
        previous_conditions: Sequence[Condition] | None = None,
        waiting: tuple[str, str] | None = None,
    ) -> None:
        """Write ``record`` as the run's status: only under ``held``, with ``record`` read under it."""
        steps = self.store.steps(record.uid, tail=model.OUTPUT_TAIL_CHARS)
        status = run_status.run_status(
            record, steps, generation, previous_conditions, now=model.utcnow(), waiting=waiting
        )
        if generation is None:
            status.pop("observedGeneration", None)
        self.kube.patch_status(model.RUNS, record.namespace, record.name, status)

    def finish(self, uid: str, phase: str, reason: str, message: str) -> None:
        """End the run (once, in PostgreSQL first), delete its key Secret and show its end; what
        the API server did not take (a restart) is done again by ``publish_ended``."""
        with self.held(uid):
            changed = self.store.finish(uid, phase, reason, message)
            record = self.store.get(uid)
            if record is None:
                return
            self._delete_key_secret(record)
            self.show(record)
            self.store.mark_end_published(record.uid, record.phase)
        if not changed:
            return
        metrics.RUNS_FINISHED.labels(phase, reason).inc()
        metrics.RUNS_ACTIVE.dec()
        if record.started_at and record.finished_at:
            metrics.RUN_DURATION.observe((record.finished_at - record.started_at).total_seconds())
        involved = {"metadata": {"namespace": record.namespace, "name": record.name, "uid": record.uid}}
        if phase == model.SUCCEEDED:
            self.kube.event(involved, "FerrisRun", reason, message, "Normal")
        else:
            self.kube.event(involved, "FerrisRun", reason, message)
        if record.attempt < record.max_attempts and phase == model.FAILED:
            self._next_attempt(record, involved)
        self.history.finished(record, phase)

    def _next_attempt(self, record: RunRecord, involved: dict[str, Any]) -> None:
        """The next attempt the store requested as the run ended (spec.retries), made now (a
        crash in between: the catch-up after the restart makes it), said on the failed run."""
        for request in self.retries.make_for(record.uid):
            if request.attempt is None:
                continue
            when = model.timestamp(request.start_after)
            self.kube.event(
                involved,
                "FerrisRun",
                reasons.RETRY_SCHEDULED,
                f"attempt {request.attempt} of {record.max_attempts} starts at {when} as FerrisRun {request.run_name}",
                "Normal",
            )
            self.kube.patch_status(model.RUNS, record.namespace, record.name, {"nextAttempt": request.run_name})

    def publish_ended(self) -> None:
        """Runs that ended while their FerrisRun could not be written: the key Secret deleted and
        the end shown now (``finish`` again changes nothing else: the run ended once)."""
        separately.each(
            "ended runs",
            self.store.ended_unpublished(),
            lambda r: self.finish(r.uid, r.phase, r.reason or r.phase, r.message or ""),
            lambda r: f"FerrisRun {r.namespace}/{r.name}",
        )

    def fail_before_start(self, body: RunBody, package_name: str, problem: Problem, phase: str) -> None:
        """A run that ends without children: recorded, with its status and (for a failure) an Event."""
        meta = body["metadata"]
        self.store.record_failure_before_start(
            meta["uid"],
            meta["namespace"],
            meta["name"],
            package_name,
            phase,
            problem.reason,
            problem.message,
            model.chain_depth(meta),
            self.proof.proven_trigger(body),
        )
        conditions = (body.get("status") or {}).get("conditions")
        status = run_status.failed_before_start(
            phase, problem.reason, problem.message, meta.get("generation"), conditions, now=model.utcnow()
        )
        self.kube.patch_status(model.RUNS, meta["namespace"], meta["name"], status)
        self.store.mark_end_published(meta["uid"], phase)
        if phase == model.FAILED:
            self.kube.event(body, "FerrisRun", problem.reason, problem.message)
            metrics.RUNS_FINISHED.labels(phase, problem.reason).inc()

    def _delete_key_secret(self, record: RunRecord) -> None:
        """The run's key Secret, by the uid recorded when it was made (no read: one request a
        run); a run recorded before that uid was kept has its Secret read and its owner checked."""
        name = model.key_secret_name(record.name)
        if record.key_secret_uid:
            self.kube.delete_exact("Secret", record.namespace, name, record.key_secret_uid)
        else:
            self.delete_child("Secret", record.namespace, name, record.uid)

    def delete_child(
        self, kind: str, namespace: str, name: str, run_uid: str, options: dict[str, Any] | None = None
    ) -> None:
        """Delete the run's child ``name`` if the operator made it for the run; anything else of
        that name stays."""
        obj = self.kube.read(kind, namespace, name)
        if obj is not None and self.proof.is_child(obj, kind, run_uid, namespace):
            self.kube.delete_exact(kind, namespace, name, obj["metadata"]["uid"], options)
