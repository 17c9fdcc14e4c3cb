"""Fakes and helpers shared by the unit tests of the operator."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from ferris_operator import model
from ferris_operator.crypto.keyring import KeyRing
from ferris_operator.crypto.run_tokens import RunTokens
from ferris_operator.ownership import Provenance
from ferris_operator.problems import Problem
from ferris_operator.records import RunRecord, StepRecord
from ferris_operator.runner_policy import RunnerPolicy
from ferris_operator.runs import RunService
from ferris_operator.settings import Settings
from tests.unit.world import (  # the world's API server; named here for the tests that import it from here
    FakeKube,
    FakeRunStore,
)

RING = KeyRing({"k1": b"\x01" * 32, "k2": b"\x02" * 32}, "k1")
PROOF = Provenance(RunTokens(dict(RING.keys), RING.active_id))  # the operator's stamps under the test keys


def stamped(obj: dict[str, Any], kind: str, run_uid: str) -> dict[str, Any]:
    """``obj`` as the operator (service() below) makes a child of run ``run_uid``: stamped."""
    return PROOF.stamp_child(obj, kind, run_uid)


def owner(kind: str, uid: str, api_version: str = "ferris.io/v1alpha1", name: str = "r") -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "name": name, "uid": uid, "controller": True}


def obj(namespace: str, *refs: dict[str, Any], name: str = "x", labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"{name}-uid",
            "labels": labels or {},
            "ownerReferences": list(refs),
        }
    }


class FakeStore(FakeRunStore):
    """The world's run store holding ``records``, with each finish asked for noted as (uid, phase,
    reason) in ``finished``."""

    def __init__(self, *records: RunRecord) -> None:
        super().__init__()
        self.records = {r.uid: r for r in records}
        self.finished: list[tuple[str, str, str]] = []

    def finish(self, uid: str, phase: str, reason: str, message: str) -> bool:
        self.finished.append((uid, phase, reason))
        return super().finish(uid, phase, reason, message)


def record(uid: str, namespace: str, name: str) -> RunRecord:
    now = datetime.datetime.now(datetime.UTC)
    return RunRecord(uid, namespace, name, "p", "puid", 1, 1, model.RUNNING, None, None, "d", now, now, None)


def service(kube: FakeKube, store: FakeStore) -> RunService:
    settings = Settings(database_url="postgresql://x", master_key_dir=Path("."))
    return RunService(kube, None, store, settings, RunTokens(dict(RING.keys), RING.active_id))


def completed_job(namespace: str, name: str, *refs: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    job = obj(namespace, *refs, name=name, labels=labels)
    job["status"] = {"conditions": [{"type": "Complete", "status": "True"}]}
    job["spec"] = {}
    return job


def failing_pod(namespace: str, job_name: str, job_uid: str) -> dict[str, Any]:
    pod = obj(
        namespace,
        owner("Job", job_uid, "batch/v1", name=job_name),
        name="pod",
        labels={model.LABEL_RUN_UID: "victim-uid"},
    )
    pod["status"] = {"containerStatuses": [{"state": {"waiting": {"reason": "ImagePullBackOff", "message": "m"}}}]}
    return pod


DEFAULT_RUNNER = "ghcr.io/ferris-run/ferris-runner:0.1.0"


def policy_reason(policy: RunnerPolicy, runner: dict[str, Any]) -> str | None:
    try:
        policy.check(runner, DEFAULT_RUNNER)
    except Problem as problem:
        return problem.reason
    return None


class StepsStore(FakeStore):
    def __init__(self, record: RunRecord, phases: list[str]) -> None:
        super().__init__(record)
        self.phases = phases

    def steps(self, uid: str, tail: int | None = None) -> list[Any]:
        return [StepRecord(i, f"s{i}.py", phase, None, None, None, "") for i, phase in enumerate(self.phases)]
