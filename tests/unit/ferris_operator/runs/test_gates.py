"""The gates a run passes before anything is made for it: a table, one row per way through,
and the order that keeps the reads lazy (a waiting run reads no package, a manual run counts
no budget)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ferris_operator import model
from ferris_operator.bodies import PackageBody, RunBody
from ferris_operator.records import RunRecord
from ferris_operator.runs import gates
from ferris_operator.runs.gates import RunWaiting
from ferris_operator.settings import Settings
from ferris_wire.runner_api import ParamFile

EVENT = model.ANNOTATION_EVENT
NOW = datetime.datetime(2026, 12, 7, 10, 0, tzinfo=datetime.UTC)
SETTINGS = Settings(database_url="postgresql://x", master_key_dir=Path("."))


def package(
    ready: dict[str, str] | None = None,
    observed: int = 1,
    runner: dict[str, Any] | None = None,
    reruns: bool = False,
    generation: int = 1,
) -> PackageBody:
    condition = {"type": "Ready", "status": "True", "reason": "Ready", "message": "", "lastTransitionTime": ""}
    body: PackageBody = {
        "metadata": {"namespace": "a", "name": "p", "uid": "p-uid", "generation": generation},
        "spec": {"scripts": [{"name": "a.py", "content": "pass"}, {"name": "b.py", "content": "pass"}]},
        "status": {
            "observedGeneration": observed if observed != 1 else generation,
            "conditions": [{**condition, **(ready or {})}],
        },  # type: ignore[typeddict-item]
    }
    if runner is not None:
        body["spec"]["runner"] = runner  # type: ignore[typeddict-item]
    if reruns:
        body["spec"]["allowRerunFromStep"] = True
    return body


def ended(package: str = "p", phase: str = model.FAILED, generation: int = 1) -> RunRecord:
    """The run a rerun names, as PostgreSQL holds it."""
    at = NOW - datetime.timedelta(hours=1)
    return RunRecord("old-uid", "a", "old", package, "p-uid", generation, 3, phase, None, None, None, at, at, at)


def rerun(step: int = 2) -> RunBody:
    return run(rerunOf="old", fromStep=step)


def with_secret_field() -> PackageBody:
    body = package()
    body["spec"]["paramsSchema"] = {"properties": {"token": {"type": "string", "secret": True}}}
    return body


def with_file_field() -> PackageBody:
    body = package()
    body["spec"]["paramsSchema"] = {"properties": {"data": {"type": "file", "maxBytes": 100}}}
    return body


def giving_a_file(age_seconds: float, name: str = "d.csv", size: int = 3) -> RunBody:
    """A run whose params name a file (as the server writes them), made that long ago."""
    body = run(params={"data": {"file": name, "bytes": size}})
    body["metadata"]["creationTimestamp"] = model.timestamp(NOW - datetime.timedelta(seconds=age_seconds))
    return body


KEPT = {"data": ParamFile(param="data", name="d.csv", bytes=3, sha256="ab" * 32)}


def naming_secrets(age_seconds: float, **spec: Any) -> RunBody:
    """A run whose annotation says the server kept secret params for it, made that long ago."""
    body = run(**spec)
    body["metadata"]["annotations"] = {model.ANNOTATION_SECRET_PARAMS: "token"}
    body["metadata"]["creationTimestamp"] = model.timestamp(NOW - datetime.timedelta(seconds=age_seconds))
    return body


def run(**spec: Any) -> RunBody:
    return {
        "metadata": {
            "namespace": "a",
            "name": "r",
            "uid": "r-uid",
            "annotations": {model.ANNOTATION_EVENT: "/shop e-1"},
        },
        "spec": {"packageRef": {"name": "p"}, **spec},
    }


@dataclass
class Given:
    """The facts as plain values."""

    run: RunBody = field(default_factory=run)
    now: datetime.datetime = NOW
    started: bool = False
    package: PackageBody | None = field(default_factory=package)
    trigger: str | None = model.TRIGGER_MANUAL
    depth: int = 0
    budgeted_runs: int = 0
    rerun_of: RunRecord | None = None
    secret_params: dict[str, Any] | None = None
    param_files: dict[str, ParamFile] = field(default_factory=dict)


def later(seconds: float) -> str:
    return model.timestamp(NOW + datetime.timedelta(seconds=seconds))


MISMATCH = {"status": "False", "reason": "MasterKeyMismatch", "message": "wrapped by 'k1'"}
ROWS: list[tuple[str, Given, str | None]] = [
    ("a manual run of a Ready package", Given(), None),
    ("a start time ten minutes away", Given(run=run(startAfter=later(600))), "WaitingToStart"),
    ("a start time passed", Given(run=run(startAfter=later(-1))), None),
    ("a started run's start time is not weighed again", Given(run=run(startAfter=later(600)), started=True), None),
    (
        "a Schedule run without the operator's stamp",
        Given(run=run(trigger="Schedule"), trigger=None),
        "TriggerNotProven",
    ),
    ("a run at the default chain depth of ten", Given(depth=10), None),
    ("a run past it", Given(depth=11), "ChainTooDeep"),
    ("an event's run at the budget", Given(trigger="Event", budgeted_runs=300), "RunBudgetExceeded"),
    ("a retry at the budget", Given(trigger="Retry", budgeted_runs=300), "RunBudgetExceeded"),
    ("an event's run under the budget", Given(trigger="Event", budgeted_runs=299), None),
    ("a person's run is not budgeted", Given(budgeted_runs=10_000), None),
    ("no package", Given(package=None), "PackageNotFound"),
    ("no package for a started run either", Given(package=None, started=True), "PackageNotFound"),
    ("a package not reconciled at its generation", Given(package=package(observed=0)), "PackageNotReconciled"),
    ("a package whose data key does not open", Given(package=package(MISMATCH)), "MasterKeyMismatch"),
    ("a package not Ready", Given(package=package({"status": "False", "reason": "X"})), "PackageNotReady"),
    ("a started run keeps the package it pinned", Given(package=package(observed=0), started=True), None),
    ("a runner image the cluster refuses", Given(package=package(runner={"image": "evil:1"})), "RunnerPolicyViolation"),
    ("a rerun from step 2 of an ended run", Given(run=rerun(), package=package(reruns=True), rerun_of=ended()), None),
    ("a rerun of a package that does not allow it", Given(run=rerun(), rerun_of=ended()), "RerunRefused"),
    ("a rerun of no recorded run", Given(run=rerun(), package=package(reruns=True)), "RerunRefused"),
    (
        "a rerun of another package's run",
        Given(run=rerun(), package=package(reruns=True), rerun_of=ended("q")),
        "RerunRefused",
    ),
    (
        "a rerun of a run still going",
        Given(run=rerun(), package=package(reruns=True), rerun_of=ended(phase=model.RUNNING)),
        "RerunRefused",
    ),
    (
        "a rerun after the package changed",
        Given(run=rerun(), package=package(reruns=True, generation=2), rerun_of=ended()),
        "RerunRefused",
    ),
    (
        "a secret param written in the FerrisRun",
        Given(run=run(params={"token": "x"}), package=with_secret_field()),
        "InvalidParams",
    ),
    (
        "secret params the server kept",
        Given(run=naming_secrets(1), package=with_secret_field(), secret_params={"token": "x"}),
        None,
    ),
    ("secret params not kept yet", Given(run=naming_secrets(5), package=with_secret_field()), "WaitingToStart"),
    ("secret params never kept", Given(run=naming_secrets(61), package=with_secret_field()), "SecretParamsMissing"),
    (
        "a file the server kept for the run",
        Given(run=giving_a_file(1), package=with_file_field(), param_files=KEPT),
        None,
    ),
    ("a file not kept yet", Given(run=giving_a_file(5), package=with_file_field()), "WaitingToStart"),
    (
        "a file never kept (a FerrisRun made with kubectl)",
        Given(run=giving_a_file(61), package=with_file_field()),
        "ParamFileMissing",
    ),
    (
        "a kept file other than the one the params name",
        Given(run=giving_a_file(1, size=99), package=with_file_field(), param_files=KEPT),
        "ParamFileMissing",
    ),
    (
        "a file param written as text",
        Given(run=run(params={"data": "/etc/passwd"}), package=with_file_field(), param_files=KEPT),
        "ParamFileMissing",
    ),
    ("a run of a package with a file param that gives none", Given(package=with_file_field()), None),
    (
        "a rerun from a step the package lacks",
        Given(run=rerun(3), package=package(reruns=True), rerun_of=ended()),
        "RerunRefused",
    ),
]


@pytest.mark.parametrize(("given", "reason"), [(g, r) for _, g, r in ROWS], ids=[d for d, _, _ in ROWS])
def test_the_first_closed_gate_names_its_reason(given: Given, reason: str | None) -> None:
    closed = gates.first_closed(given, SETTINGS)
    assert (closed.reason if closed else None) == reason


def test_what_heals_by_itself_waits_and_says_when_to_look_again() -> None:
    far = gates.first_closed(Given(run=run(startAfter=later(600))), SETTINGS)
    assert isinstance(far, RunWaiting) and far.delay == 60
    assert far.message == f"starts at {later(600)} (spec.startAfter)"
    offset = (NOW + datetime.timedelta(seconds=5)).isoformat()  # an offset, not Z: the CRD's date-time allows it
    soon = gates.first_closed(Given(run=run(startAfter=offset)), SETTINGS)
    assert isinstance(soon, RunWaiting) and soon.delay == 5
    unreconciled = gates.first_closed(Given(package=package(observed=0)), SETTINGS)
    assert isinstance(unreconciled, RunWaiting) and unreconciled.retry


def test_refusals_name_what_to_do() -> None:
    def said(given: Given) -> str:
        closed = gates.first_closed(given, SETTINGS)
        assert closed is not None and not closed.retry
        return closed.message

    assert said(Given(package=package(MISMATCH))) == "FerrisPackage p: wrapped by 'k1'"
    deep = said(Given(depth=11))
    assert "started by event '/shop e-1'" in deep and "run 11 of a chain" in deep and "the limit is 10" in deep
    assert "made 300 runs in namespace a" in said(Given(trigger="Event", budgeted_runs=300))
    assert "spec.trigger is Schedule" in said(Given(run=run(trigger="Schedule"), trigger=None))
    assert said(Given(package=None)).startswith("FerrisPackage a/p does not exist")
    written = said(Given(run=run(params={"token": "s3cr3t"}), package=with_secret_field()))
    assert "spec.params.token is a secret param" in written and "ferris run -s NAME=VALUE" in written
    assert "s3cr3t" not in written
    assert "its author may set spec.allowRerunFromStep: true" in said(Given(run=rerun(), rerun_of=ended()))
    changed = said(Given(run=rerun(), package=package(reruns=True, generation=2), rerun_of=ended()))
    assert "changed since run old (generation 1, now 2)" in changed and "rerun it whole" in changed
    assert "spec.fromStep: 3, but the package has 2 steps" in said(
        Given(run=rerun(3), package=package(reruns=True), rerun_of=ended())
    )


class Untouchable(Given):
    """Facts that fail when a named one is read."""

    def __init__(self, forbidden: set[str], **given: Any) -> None:
        super().__init__(**given)
        self.forbidden = forbidden

    def __getattribute__(self, name: str) -> Any:
        if name != "forbidden" and name in object.__getattribute__(self, "forbidden"):
            raise AssertionError(f"{name} was read")
        return object.__getattribute__(self, name)


def test_the_reads_are_made_only_when_a_gate_needs_them() -> None:
    waiting = Untouchable({"package", "depth", "budgeted_runs", "trigger"}, run=run(startAfter=later(600)))
    assert gates.first_closed(waiting, SETTINGS) is not None  # WaitingToStart, nothing read
    unproven = Untouchable({"package", "budgeted_runs"}, run=run(trigger="Event"), trigger=None)
    assert gates.first_closed(unproven, SETTINGS) is not None  # TriggerNotProven before the package
    assert (
        gates.first_closed(Untouchable({"budgeted_runs", "rerun_of", "secret_params"}), SETTINGS) is None
    )  # a plain run
    started = Untouchable({"trigger", "depth", "budgeted_runs"}, started=True)
    assert gates.first_closed(started, SETTINGS) is None
