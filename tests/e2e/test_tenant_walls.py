"""A hostile tenant with rights in its own namespace (or in the victim's, over Secrets,
ConfigMaps and Jobs only) gains nothing over another tenant's run: labels prove nothing,
children made by someone else are never adopted, and Secrets not marked for Ferris are never
read or deleted."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest

from ferris_devcluster.imagebuild import runner_image

from .conftest import Ferris

# A tenant's own Job needs an image with a shell: the runner image has one (and passes any
# image policy), in both node modes.
SHELL_IMAGE = runner_image()

pytestmark = pytest.mark.cluster
# Long enough to be still running after the spoofing below, whatever the load (8 s was not).
SLOW_SCRIPT = "import time\ntime.sleep(40)\nprint('victim done')\n"


def wait_phase(ferris: Ferris, namespace: str, run: str, phase: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = ferris.get(namespace, "ferrisrun", run)
        if (body.get("status") or {}).get("phase") == phase:
            return body
        assert time.monotonic() < deadline, f"run {run} never reached {phase}: {body.get('status')}"
        time.sleep(0.3)


def reason_of(run: dict[str, Any]) -> str:
    return str(next(c for c in run["status"]["conditions"] if c["type"] == "Succeeded")["reason"])


def spoofing_job(name: str, labels: dict[str, str], image: str, command: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": labels},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": image, "command": command}]},
            },
        },
    }


def test_jobs_and_pods_labelled_as_another_tenants_run_change_nothing(ferris: Ferris, ns: str) -> None:
    ferris.package(ns, "slow", SLOW_SCRIPT)
    ferris.wait_condition(ns, "ferrispackage", "slow", "Ready")
    run = ferris.create_run(ns, "slow")
    victim = wait_phase(ferris, ns, run, "Running")
    labels = {
        "ferris.io/run-uid": victim["metadata"]["uid"],
        "ferris.io/run": run,
        "ferris.io/package": "slow",
        "app.kubernetes.io/managed-by": "ferris-operator",
    }
    mallory = "mallory-" + uuid.uuid4().hex[:6]
    ferris.kubectl("create", "namespace", mallory)
    # A Job that completes at once (as if the run had succeeded), with a termination message...
    ferris.apply(mallory, spoofing_job("fake-done", labels, SHELL_IMAGE, ["sh", "-c", "echo pwned > /dev/null"]))
    # ...and one whose image cannot be pulled (as if the runner could not start).
    ferris.apply(mallory, spoofing_job("fake-pull", labels, "evil.invalid/none:1", ["x"]))
    ferris.kubectl("wait", "-n", mallory, "job/fake-done", "--for=condition=Complete", "--timeout=60s")
    deadline = time.monotonic() + 30
    while "ImagePullBackOff" not in json.dumps(ferris.read(mallory, "pod")["items"]):
        assert time.monotonic() < deadline, "the spoofing pod never reached ImagePullBackOff"
        time.sleep(0.5)
    time.sleep(2)  # give the operator time to (wrongly) act on the events

    status = ferris.get(ns, "ferrisrun", run)["status"]
    assert status["phase"] == "Running", status
    assert ferris.exists(ns, "secret", f"{run}-key"), "the victim's run key was deleted"
    assert ferris.exists(ns, "job", f"{run}-run"), "the victim's Job was deleted"
    finished = ferris.wait_run(ns, run)
    assert finished["status"]["phase"] == "Succeeded"
    assert "victim done" in ferris.steps(victim["metadata"]["uid"])[0][4]
    assert ferris.exists(mallory, "job", "fake-pull"), "the operator deleted another namespace's Job"


def key_secret(name: str, run_key: bytes, token: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "data": {"run.key": base64.b64encode(run_key).decode(), "token": base64.b64encode(token.encode()).decode()},
    }


def _as_planted(obj: dict[str, Any]) -> dict[str, Any]:
    """What the planter wrote: the status and the API server's bookkeeping left out (a planted
    Job's status is the Job controller's, and moves as its pod starts)."""
    meta = {k: v for k, v in obj["metadata"].items() if k not in ("resourceVersion", "managedFields")}
    return {**{k: v for k, v in obj.items() if k != "status"}, "metadata": meta}


@pytest.mark.parametrize("child", ["key", "bundle", "run"])
def test_a_child_made_before_the_run_is_never_adopted(ferris: Ferris, ns: str, child: str) -> None:
    ferris.package(ns, "adopt", "print('x')", sealedSecrets=seal(ferris, ns, "adopt", {"PASSWORD": "hunter2-x"}))
    ferris.wait_condition(ns, "ferrispackage", "adopt", "Ready")
    run = f"adopt-{uuid.uuid4().hex[:6]}"
    planted: dict[str, Any]
    if child == "key":  # the planter knows this key: a bundle sealed to it would open for them
        planted = key_secret(f"{run}-key", os.urandom(32), "planted-token")
        kind = "secret"
    elif child == "bundle":
        planted = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{run}-bundle"}, "data": {}}
        kind = "configmap"
    else:
        planted = spoofing_job(f"{run}-run", {}, SHELL_IMAGE, ["sh", "-c", "sleep 30"])
        kind = "job"
    ferris.apply(ns, planted)
    before = ferris.get(ns, kind, planted["metadata"]["name"])
    ferris.create_run(ns, "adopt", name=run)
    body = ferris.wait_run(ns, run, timeout=60)
    assert (body["status"]["phase"], reason_of(body)) == ("Failed", "ForeignObject")
    message = next(c for c in body["status"]["conditions"] if c["type"] == "Succeeded")["message"]
    assert f"{planted['metadata']['name']} already exists and is not owned by this run" in message
    assert ferris.wait_events(ns, run, "ForeignObject", kind="Warning")
    after = ferris.get(ns, kind, planted["metadata"]["name"])
    assert _as_planted(after) == _as_planted(before), "the planted object changed"
    # Only the Job controller writes to it since, and only its status (no manager wrote elsewhere).
    known = {(m["manager"], m.get("subresource", "")) for m in before["metadata"].get("managedFields") or []}
    since = {(m["manager"], m.get("subresource", "")) for m in after["metadata"].get("managedFields") or []} - known
    assert all(subresource == "status" for _, subresource in since), since
    if child == "key":  # nothing was sealed to the planted key, and nothing else was made
        assert not ferris.exists(ns, "configmap", f"{run}-bundle")
        assert not ferris.exists(ns, "job", f"{run}-run")


def seal(ferris: Ferris, namespace: str, package: str, secrets: dict[str, str]) -> str:
    result = ferris.ferris("seal", "--namespace", namespace, "--package", package, input=json.dumps(secrets))
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_secrets_from_never_reads_or_deletes_a_secret_not_marked_for_ferris(ferris: Ferris, ns: str) -> None:
    """An image pull secret (or any Opaque Secret) named in secretsFrom stays where it is, unread."""
    ferris.kubectl(
        "create", "secret", "generic", "regcred", "-n", ns, '--from-literal=secrets.json={"TOKEN": "pull-secret-x"}'
    )
    ferris.package(ns, "grabber", "print('x')", secretsFrom={"secretName": "regcred"})
    cond = ferris.wait_condition(ns, "ferrispackage", "grabber", "SecretSourceNotMarked")
    assert "Secret regcred is of type Opaque" in cond["message"]
    assert "--type=ferris.io/secrets-json" in cond["message"]
    assert ferris.exists(ns, "secret", "regcred"), "an unmarked Secret was deleted"
    assert "secrets" not in (ferris.get(ns, "ferrispackage", "grabber")["status"].get("secrets") or {}).get("names", [])


@pytest.mark.parametrize(
    ("kind", "spec", "field"),
    [
        ("FerrisRun", {"packageRef": {"name": "."}}, "spec.packageRef.name"),
        (
            "FerrisPackage",
            {"scripts": [{"name": "a.py", "content": "1"}], "secretsFrom": {"secretName": "."}},
            "spec.secretsFrom.secretName",
        ),
        (
            "FerrisPackage",
            {"scripts": [{"name": "a.py", "configMapRef": {"name": "..", "key": "a.py"}}]},
            "spec.scripts[0].configMapRef.name",
        ),
    ],
    ids=["packageRef", "secretName", "configMapRef"],
)
def test_names_that_are_not_dns_names_are_refused_at_admission(
    ferris: Ferris, ns: str, kind: str, spec: dict[str, Any], field: str
) -> None:
    result = ferris.apply(
        ns, {"apiVersion": "ferris.io/v1alpha1", "kind": kind, "metadata": {"name": "dots"}, "spec": spec}, check=False
    )
    assert result.returncode != 0
    assert f"{field} in body should match" in result.stderr, result.stderr


def test_a_job_the_api_server_refuses_fails_its_run_and_no_other(ferris: Ferris, ns: str) -> None:
    """A package whose Job is refused used to raise out of the resync loop on every pass."""
    ferris.package(ns, "poison", "print('x')", runner={"resources": {"limits": {"cpu": "-1"}}})
    ferris.package(ns, "fine", "print('fine')")
    for package in ("poison", "fine"):
        ferris.wait_condition(ns, "ferrispackage", package, "Ready")
    poisoned = ferris.wait_run(ns, ferris.create_run(ns, "poison"))
    assert (poisoned["status"]["phase"], reason_of(poisoned)) == ("Failed", "JobRejected")
    message = next(c for c in poisoned["status"]["conditions"] if c["type"] == "Succeeded")["message"]
    assert "the API server refused the run's Job" in message and "limits[cpu]" in message, message
    assert ferris.wait_run(ns, ferris.create_run(ns, "fine"))["status"]["phase"] == "Succeeded"


@pytest.mark.parametrize(
    ("runner", "message"),
    [
        ({"image": "evil.example/miner:1"}, "spec.runner.image 'evil.example/miner:1' is not allowed"),
        ({"env": [{"name": "LD_PRELOAD", "value": "/tmp/x.so"}]}, "spec.runner.env[0].name LD_PRELOAD is forbidden"),
        ({"env": [{"name": "PYTHONPATH", "value": "/tmp"}]}, "spec.runner.env[0].name PYTHONPATH is forbidden"),
        (
            {"tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}]},
            "spec.runner.tolerations may not be set",
        ),
        ({"nodeSelector": {"dedicated": "gpu"}}, "spec.runner.nodeSelector may not be set"),
        ({"serviceAccountName": "deployer"}, "spec.runner.serviceAccountName may not be set"),
    ],
    ids=["image", "ld-preload", "pythonpath", "tolerations", "node-selector", "service-account"],
)
def test_the_runner_policy_refuses_what_the_platform_did_not_allow(
    ferris: Ferris, ns: str, runner: dict[str, Any], message: str
) -> None:
    ferris.package(ns, "policy", "print('x')", runner=runner)
    ferris.wait_condition(ns, "ferrispackage", "policy", "Ready")
    run = ferris.create_run(ns, "policy")
    body = ferris.wait_run(ns, run)
    assert (body["status"]["phase"], reason_of(body)) == ("Failed", "RunnerPolicyViolation")
    assert message in next(c for c in body["status"]["conditions"] if c["type"] == "Succeeded")["message"]
    assert not ferris.exists(ns, "job", f"{run}-run") and not ferris.exists(ns, "secret", f"{run}-key")


ARGV_SCRIPT = (
    "import json, sys\nfrom ferris_ef import get_secret\n"
    "print('in argv:', 'secrets' in json.loads(sys.argv[1]))\n"
    "print('length:', len(get_secret('BIG')))\n"
)


def apply_server_side(ferris: Ferris, namespace: str, package: str, **spec: Any) -> None:
    """Large packages go through server-side apply: client-side `kubectl apply` keeps a copy of
    the whole object in an annotation, which has a 256 KiB limit of its own."""
    document = {"apiVersion": "ferris.io/v1alpha1", "kind": "FerrisPackage", "metadata": {"name": package}}
    ferris.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "-n",
        namespace,
        "-f",
        "-",
        input=json.dumps({**document, "spec": spec}),
    )


def test_secrets_too_large_for_one_argument_are_refused_at_ingestion_unless_passed_by_descriptor(
    ferris: Ferris, ns: str
) -> None:
    """A 249 KB secrets.json used to fail every run with E2BIG (RunnerFailed)."""
    sealed = seal_text(ferris, ns, "big", json.dumps({"BIG": "b" * 200_000}))
    scripts = [{"name": "main.py", "content": ARGV_SCRIPT}]
    apply_server_side(ferris, ns, "big", scripts=scripts, sealedSecrets=sealed)
    cond = ferris.wait_condition(ns, "ferrispackage", "big", "SecretsTooLargeForArgv")
    assert "set spec.secretsInArgv: false" in cond["message"]
    apply_server_side(ferris, ns, "big", scripts=scripts, sealedSecrets=sealed, secretsInArgv=False)
    ferris.wait_condition(ns, "ferrispackage", "big", "Ready")
    body = ferris.wait_run(ns, ferris.create_run(ns, "big"))
    assert body["status"]["phase"] == "Succeeded", body["status"]
    output = ferris.steps(body["metadata"]["uid"])[0][4]
    assert "in argv: False" in output and "length: 200000" in output


def test_a_package_larger_than_an_annotation_becomes_ready(ferris: Ferris, ns: str) -> None:
    """kopf kept the whole spec in an annotation (256 KiB): a 400 KB package never became Ready."""
    padding = "# " + "p" * 199_000 + "\n"
    scripts = [{"name": "a.py", "content": padding + "print('a')"}, {"name": "b.py", "content": padding + "print('b')"}]
    apply_server_side(ferris, ns, "large", scripts=scripts)
    ferris.wait_condition(ns, "ferrispackage", "large", "Ready")
    body = ferris.wait_run(ns, ferris.create_run(ns, "large"))
    assert body["status"]["phase"] == "Succeeded", body["status"]
    annotations = ferris.get(ns, "ferrispackage", "large")["metadata"]["annotations"]
    assert len(annotations["kopf.ferris.io/last-handled-configuration"]) < 4096


def seal_text(ferris: Ferris, namespace: str, package: str, document: str) -> str:
    result = ferris.ferris("seal", "--namespace", namespace, "--package", package, input=document)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_a_deleted_bundle_ends_its_run_instead_of_waiting_for_the_timeout(ferris: Ferris, ns: str) -> None:
    ferris.package(ns, "lost", "print('x')")
    ferris.wait_condition(ns, "ferrispackage", "lost", "Ready")
    node = ferris.kubectl("get", "nodes", "-o", "name").stdout.split()[0]
    ferris.kubectl("cordon", node)  # the pod waits, as it would for a bundle it cannot mount
    try:
        time.sleep(1.5)  # the process node reads its cordon twice a second
        run = ferris.create_run(ns, "lost")
        deadline = time.monotonic() + 30
        while not ferris.exists(ns, "job", f"{run}-run"):
            assert time.monotonic() < deadline, "the run's Job was never created"
            time.sleep(0.3)
        ferris.kubectl("delete", "configmap", f"{run}-bundle", "-n", ns)
        body = ferris.wait_run(ns, run, timeout=90)
    finally:
        ferris.kubectl("uncordon", node)
    assert (body["status"]["phase"], reason_of(body)) == ("Failed", "BundleMissing")
    assert not ferris.exists(ns, "job", f"{run}-run")


def test_the_operator_and_the_server_are_their_service_accounts_not_the_admin(ferris: Ferris) -> None:
    """Both run under the chart's roles (their ServiceAccounts, with bearer tokens, as in a
    cluster), so that every end-to-end test is a test of those roles too, and neither holds a
    right the chart does not give it."""
    stack = ferris.stack
    for process, kubeconfig, account in (
        (stack.operator, stack.operator_kubeconfig, "ferris"),
        (stack.server, stack.server_kubeconfig, "ferris-server"),
    ):
        assert process is not None
        assert psutil.Process(process.pid).environ()["KUBECONFIG"] == str(kubeconfig)

        def kubectl(*args: str, kubeconfig: Path = kubeconfig) -> str:
            return subprocess.run(
                [stack.cluster.bins["kubectl"], f"--kubeconfig={kubeconfig}", *args],
                capture_output=True,
                text=True,
                timeout=60,
            ).stdout.strip()

        who = json.loads(kubectl("auth", "whoami", "-o", "json"))
        assert who["status"]["userInfo"]["username"] == f"system:serviceaccount:ferris-system:{account}"
        for verb, resource in (("delete", "namespaces"), ("create", "clusterrolebindings"), ("get", "nodes/proxy")):
            assert kubectl("auth", "can-i", verb, resource, "-A") == "no", f"{account} may {verb} {resource}"
