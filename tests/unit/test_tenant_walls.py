"""The pure parts of the tenant walls: ownership, run tokens, the failure limiter, body
bounds, loop isolation, the warnings cap, scripts checked again at run start."""

from __future__ import annotations

import base64
import datetime
import json
from pathlib import Path
from typing import Any

import kopf
import psycopg
import pytest

from ferris_operator import isolation, model, ownership
from ferris_operator.builders import run_objects
from ferris_operator.crypto.keyring import KeyRing
from ferris_operator.crypto.run_tokens import RunTokens
from ferris_operator.k8s.diffbase import DigestedDiffBaseStorage
from ferris_operator.package_service import short_secret_warnings
from ferris_operator.problems import Problem
from ferris_operator.ratelimit import FailureLimiter
from ferris_operator.records import RunRecord, StepRecord
from ferris_operator.runner_policy import RunnerPolicy
from ferris_operator.runner_reports import containers
from ferris_operator.runs import RunService
from ferris_operator.settings import Settings
from ferris_runner.main import TRUNCATED, fit_output

RING = KeyRing({"k1": b"\x01" * 32, "k2": b"\x02" * 32}, "k1")


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


# ---- ownership ---------------------------------------------------------------------------------
def test_only_the_controller_reference_in_the_same_namespace_makes_an_object_the_runs() -> None:
    assert ownership.owned_by_run(obj("a", owner("FerrisRun", "u1")), "u1", "a")
    assert not ownership.owned_by_run(obj("b", owner("FerrisRun", "u1")), "u1", "a")  # other namespace
    assert not ownership.owned_by_run(obj("a", owner("FerrisRun", "u2")), "u1", "a")
    assert not ownership.owned_by_run(obj("a", {**owner("FerrisRun", "u1"), "controller": False}), "u1", "a")
    assert not ownership.owned_by_run(obj("a", owner("FerrisRun", "u1", "evil.io/v1")), "u1", "a")
    assert not ownership.owned_by_run(obj("a", labels={model.LABEL_RUN_UID: "u1"}), "u1", "a")


class FakeStore:
    def __init__(self, *records: RunRecord) -> None:
        self.records = {r.uid: r for r in records}
        self.finished: list[tuple[str, str, str]] = []

    def get(self, uid: str) -> RunRecord | None:
        return self.records.get(uid)

    def finish(self, uid: str, phase: str, reason: str, message: str) -> bool:
        self.finished.append((uid, phase, reason))
        return True

    def steps(self, uid: str, tail: int | None = None) -> list[Any]:
        return []


class FakeKube:
    def __init__(self, objects: dict[tuple[str, str, str], dict[str, Any]] | None = None) -> None:
        self.objects = objects or {}
        self.reads: list[tuple[str, str, str]] = []
        self.deleted: list[tuple[str, str]] = []

    def read(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        self.reads.append((kind, namespace, name))
        return self.objects.get((kind, namespace, name))

    def delete_exact(self, kind: str, namespace: str, name: str, uid: str, body: Any = None) -> None:
        self.deleted.append((kind, name))

    def patch_status(self, *args: Any) -> None:
        pass

    def event(self, *args: Any, **kwargs: Any) -> None:
        pass

    def list_run_pods(self, namespace: str, run_uid: str) -> list[dict[str, Any]]:
        return []


def record(uid: str, namespace: str, name: str) -> RunRecord:
    now = datetime.datetime.now(datetime.UTC)
    return RunRecord(uid, namespace, name, "p", "puid", 1, 1, model.RUNNING, None, None, "d", now, now, None)


def service(kube: FakeKube, store: FakeStore) -> RunService:
    settings = Settings(database_url="postgresql://x", master_key_dir=Path("."))
    return RunService(kube, None, store, settings, RunTokens(RING))


def completed_job(namespace: str, name: str, *refs: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    job = obj(namespace, *refs, name=name, labels=labels)
    job["status"] = {"conditions": [{"type": "Complete", "status": "True"}]}
    job["spec"] = {}
    return job


def test_a_job_labelled_as_a_run_but_not_owned_by_it_finishes_nothing() -> None:
    victim = record("victim-uid", "team-a", "nightly")
    store = FakeStore(victim)
    runs = service(FakeKube(), store)
    labels = {model.LABEL_RUN_UID: "victim-uid"}
    runs.on_job(completed_job("mallory", "nightly-run", labels=labels))  # labels alone
    runs.on_job(completed_job("mallory", "nightly-run", owner("FerrisRun", "victim-uid"), labels=labels))
    runs.on_job(completed_job("team-a", "other-run", owner("FerrisRun", "victim-uid"), labels=labels))  # name
    assert store.finished == []
    runs.on_job(completed_job("team-a", "nightly-run", owner("FerrisRun", "victim-uid"), labels=labels))
    assert store.finished == [("victim-uid", model.SUCCEEDED, "Succeeded")]


def failing_pod(namespace: str, job_name: str, job_uid: str) -> dict[str, Any]:
    pod = obj(
        namespace,
        owner("Job", job_uid, "batch/v1", name=job_name),
        name="pod",
        labels={model.LABEL_RUN_UID: "victim-uid"},
    )
    pod["status"] = {"containerStatuses": [{"state": {"waiting": {"reason": "ImagePullBackOff", "message": "m"}}}]}
    return pod


def test_a_pod_ends_a_run_only_through_the_runs_own_job() -> None:
    victim = record("victim-uid", "team-a", "nightly")
    job = obj("team-a", owner("FerrisRun", "victim-uid"), name="nightly-run")
    store = FakeStore(victim)
    kube = FakeKube({("Job", "team-a", "nightly-run"): job})
    runs = service(kube, store)
    runs.on_pod(failing_pod("mallory", "nightly-run", job["metadata"]["uid"]))  # other namespace
    runs.on_pod(failing_pod("team-a", "nightly-run", "some-other-job-uid"))  # a Job of the same name? not this one
    assert store.finished == [] and kube.deleted == []
    runs.on_pod(failing_pod("team-a", "nightly-run", job["metadata"]["uid"]))
    assert store.finished == [("victim-uid", model.FAILED, "ImagePullBackOff")]
    assert ("Job", "nightly-run") in kube.deleted


# ---- scripts checked again at run start --------------------------------------------------------
def test_configmap_scripts_are_read_once_per_configmap_and_bounded_at_run_start() -> None:
    big = "x" * (300 * 1024)
    kube = FakeKube({("ConfigMap", "a", "lib"): {"metadata": {"name": "lib"}, "data": {"k": big, "small": "1"}}})
    runs = service(kube, FakeStore())
    ref = type("Ref", (), {"namespace": "a", "name": "r", "uid": "u"})()
    spec = {"scripts": [{"name": f"s{i}.py", "configMapRef": {"name": "lib", "key": "small"}} for i in range(64)]}
    assert len(runs.starter._scripts(ref, spec)) == 64
    assert kube.reads == [("ConfigMap", "a", "lib")]
    grown = {"scripts": [{"name": f"s{i}.py", "configMapRef": {"name": "lib", "key": "k"}} for i in range(2)]}
    with pytest.raises(Problem) as caught:
        runs.starter._scripts(ref, grown)
    assert caught.value.reason == "InvalidScripts" and "at run start" in caught.value.message


# ---- run tokens --------------------------------------------------------------------------------
def test_a_run_token_is_good_for_its_own_run_only_and_cannot_be_forged() -> None:
    tokens = RunTokens(RING)
    token = tokens.issue("run-1")
    assert tokens.verify("run-1", token)
    assert not tokens.verify("run-2", token)
    prefix, key_id, nonce, mac = token.split(".")
    assert not tokens.verify("run-1", f"{prefix}.{key_id}.{nonce[:-1]}A.{mac}")
    assert not tokens.verify("run-1", f"{prefix}.k2.{nonce}.{mac}")
    assert not tokens.verify("run-1", f"{prefix}.nope.{nonce}.{mac}")
    assert not tokens.verify("run-1", token + "x" * 300)
    assert not tokens.verify("run-1", "")
    assert not RunTokens(KeyRing({"k1": b"\x09" * 32}, "k1")).verify("run-1", token)  # another master key


def test_tokens_issued_before_a_master_key_rotation_still_verify() -> None:
    token = RunTokens(RING).issue("run-1")
    rotated = RunTokens(KeyRing(RING.keys, "k2"))
    assert rotated.verify("run-1", token)
    assert rotated.issue("run-1").split(".")[1] == "k2"


# ---- the failure limiter -----------------------------------------------------------------------
def test_failures_from_one_source_are_limited_and_heal_with_time() -> None:
    now = [0.0]
    limiter = FailureLimiter(burst=3, per_second=1, clock=lambda: now[0])
    for _ in range(3):
        assert not limiter.blocked("10.0.0.1")
        limiter.failed("10.0.0.1")
    assert limiter.blocked("10.0.0.1") and not limiter.blocked("10.0.0.2")
    now[0] = 1.5
    assert not limiter.blocked("10.0.0.1")


def test_the_limiter_forgets_sources_instead_of_growing_without_bound() -> None:
    now = [0.0]
    limiter = FailureLimiter(burst=2, per_second=1, max_sources=100, clock=lambda: now[0])
    for i in range(1000):
        limiter.failed(f"10.0.{i // 256}.{i % 256}")
    assert len(limiter._buckets) <= 101


# ---- body bounds -------------------------------------------------------------------------------
def test_containers_are_counted_outside_strings_only() -> None:
    assert containers(b'{"output": "{{{[[[ \\" [[[ {{{"}') == 1
    assert containers(json.dumps({"a": [{}, {}, [1]]}).encode()) == 5


def test_output_is_trimmed_to_fit_the_report_whatever_its_escapes() -> None:
    output = "\x01" * 1000  # six bytes each once escaped
    fitted = fit_output(output, limit=600)
    assert fitted.startswith(TRUNCATED) and len(json.dumps(fitted, ensure_ascii=False).encode()) <= 600
    assert fit_output("short", limit=600) == "short"
    assert fit_output("\x01" * 50, limit=10) == TRUNCATED  # not even one character fits beside the marker


# ---- loops -------------------------------------------------------------------------------------
def test_one_failing_object_does_not_stop_a_loop_but_the_database_going_down_does() -> None:
    done: list[int] = []

    def work(i: int) -> None:
        if i == 1:
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
        done.append(i)

    isolation.each("test", [0, 1, 2], work, str)
    assert done == [0, 2]

    def database_down(i: int) -> None:
        raise psycopg.OperationalError("down")

    with pytest.raises(psycopg.OperationalError):
        isolation.each("test", [0, 1], database_down, str)


def test_many_short_secrets_make_one_warning_not_thousands() -> None:
    warnings = short_secret_warnings({f"K{i}": "x" for i in range(20_000)})
    assert len(warnings) == 1 and "20000 secrets are shorter than 4 characters" in warnings[0]
    assert len(short_secret_warnings({"A": "1", "B": "2"})) == 2


# ---- the runner policy -------------------------------------------------------------------------
DEFAULT_RUNNER = "ghcr.io/ferris-run/ferris-runner:0.1.0"


def policy_reason(policy: RunnerPolicy, runner: dict[str, Any]) -> str | None:
    try:
        policy.check(runner, DEFAULT_RUNNER)
    except Problem as problem:
        return problem.reason
    return None


def test_by_default_only_the_default_runner_repository_and_no_scheduling_or_preloading() -> None:
    policy = RunnerPolicy()
    assert policy_reason(policy, {}) is None
    assert policy_reason(policy, {"image": "ghcr.io/ferris-run/ferris-runner:0.2.0"}) is None
    assert policy_reason(policy, {"image": "ghcr.io/ferris-run/ferris-runner@sha256:" + "a" * 64}) is None
    assert policy_reason(policy, {"image": "ghcr.io/ferris-run/ferris-runner-evil:1"}) == "RunnerPolicyViolation"
    assert policy_reason(policy, {"image": "busybox"}) == "RunnerPolicyViolation"
    assert policy_reason(policy, {"tolerations": [{"operator": "Exists"}]}) == "RunnerPolicyViolation"
    assert policy_reason(policy, {"env": [{"name": "LD_AUDIT", "value": "x"}]}) == "RunnerPolicyViolation"
    assert policy_reason(policy, {"env": [{"name": "MY_SETTING", "value": "x"}]}) is None


def test_the_policy_is_read_from_the_environment_the_chart_sets() -> None:
    settings = Settings.from_env(
        {
            "FERRIS_DATABASE_URL": "postgresql://x",
            "FERRIS_MASTER_KEY_DIR": "/k",
            "FERRIS_RUNNER_ALLOWED_IMAGES": "registry.corp/ferris/*, busybox",
            "FERRIS_RUNNER_ALLOW_SCHEDULING": "true",
            "FERRIS_RUNNER_FORBIDDEN_ENV": "",
        }
    )
    policy = settings.runner_policy
    assert policy.allowed_images == ("registry.corp/ferris/*", "busybox")
    assert policy_reason(policy, {"image": "registry.corp/ferris/runner:2", "nodeSelector": {"a": "b"}}) is None
    assert policy_reason(policy, {"env": [{"name": "LD_PRELOAD", "value": "x"}]}) is None  # forbidden list emptied
    assert policy_reason(policy, {"serviceAccountName": "x"}) == "RunnerPolicyViolation"


# ---- kopf's diff base --------------------------------------------------------------------------
def test_the_diff_base_keeps_large_fields_as_digests_and_still_sees_them_change() -> None:
    storage = DigestedDiffBaseStorage(prefix="kopf.ferris.io", key="last-handled-configuration")
    body = {
        "metadata": {"name": "p", "namespace": "a", "annotations": {}},
        "spec": {"scripts": [{"name": "a.py", "content": "x" * 300_000}], "sealedSecrets": "s" * 400_000, "n": 1},
    }
    essence = storage.build(body=kopf.Body(body))
    assert len(json.dumps(essence)) < 1000
    assert essence["spec"]["n"] == 1 and essence["spec"]["scripts"][0]["name"] == "a.py"
    changed = {**body, "spec": {**body["spec"], "sealedSecrets": "t" * 400_000}}
    assert storage.build(body=kopf.Body(changed)) != essence


# ---- a run's own children, altered ------------------------------------------------------------
def test_a_run_key_secret_without_a_valid_key_fails_closed() -> None:
    meta = {"name": "r-key", "namespace": "a"}
    for data in ({}, {"token": "dG9r"}, {"run.key": "c2hvcnQ=", "token": "dG9r"}, {"run.key": "!!", "token": "x"}):
        with pytest.raises(Problem) as caught:
            run_objects.read_key_secret({"metadata": meta, "data": data})
        assert caught.value.reason == "RunKeyInvalid" and "a/r-key" in caught.value.message
    key, token = run_objects.read_key_secret(
        {"metadata": meta, "data": {"run.key": base64.b64encode(b"k" * 32).decode(), "token": "dG9r"}}
    )
    assert (key, token) == (b"k" * 32, "tok")


class StepsStore(FakeStore):
    def __init__(self, record: RunRecord, phases: list[str]) -> None:
        super().__init__(record)
        self.phases = phases

    def steps(self, uid: str, tail: int | None = None) -> list[Any]:
        return [StepRecord(i, f"s{i}.py", phase, None, None, None, "") for i, phase in enumerate(self.phases)]


def test_a_job_that_completes_without_reporting_every_step_does_not_succeed() -> None:
    for phases, expected in (
        ([model.STEP_SUCCEEDED, model.STEP_PENDING], (model.FAILED, "RunnerFailed")),
        ([model.STEP_SUCCEEDED, model.STEP_SKIPPED], (model.SUCCEEDED, "Succeeded")),
    ):
        store = StepsStore(record("u", "a", "r"), phases)
        service(FakeKube(), store).on_job(
            completed_job("a", "r-run", owner("FerrisRun", "u"), labels={model.LABEL_RUN_UID: "u"})
        )
        assert store.finished == [("u", *expected)]


# ---- claims of the docs, at the unit level ------------------------------------------------------
def test_the_database_password_never_reaches_a_log_line_or_the_exit_message(caplog: pytest.LogCaptureFixture) -> None:
    from ferris_operator.main import wait_and_migrate

    settings = Settings(database_url="postgresql://ferris:s3cret-pw@127.0.0.1:1/ferris", master_key_dir=Path("."))
    with caplog.at_level("DEBUG"), pytest.raises(SystemExit) as caught:
        wait_and_migrate(settings, timeout=1)  # one retry, logged, then the exit
    assert "s3cret-pw" not in str(caught.value) and "ferris:***@127.0.0.1:1" in str(caught.value)
    assert caplog.records and "s3cret-pw" not in caplog.text


def test_a_runner_that_cannot_get_its_config_fails_its_run_as_runner_config_error() -> None:
    victim = record("u", "a", "r")
    job = obj("a", owner("FerrisRun", "u"), name="r-run")
    store = FakeStore(victim)
    kube = FakeKube({("Job", "a", "r-run"): job})
    pod = failing_pod("a", "r-run", job["metadata"]["uid"])
    pod["metadata"]["labels"] = {model.LABEL_RUN_UID: "u"}
    pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] = "CreateContainerConfigError"
    service(kube, store).on_pod(pod)
    assert store.finished == [("u", model.FAILED, "RunnerConfigError")]


def test_a_run_waits_while_its_package_is_not_reconciled_at_its_generation() -> None:
    from ferris_operator.runs import RunWaiting

    runs = service(FakeKube(), FakeStore())
    ref = type("Ref", (), {"namespace": "a", "name": "r", "uid": "u"})()
    package = {"metadata": {"name": "p", "generation": 2}, "status": {"observedGeneration": 1, "conditions": []}}
    with pytest.raises(RunWaiting) as caught:
        runs.starter._check_package(ref, package, "p", started=False)
    assert caught.value.reason == "PackageNotReconciled"
