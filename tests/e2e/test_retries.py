"""spec.retries on the local cluster: a failing step retried as attempts 2 and 3 of 3 (new
FerrisRuns, each with its own history), all on the secrets version the first attempt pinned
though the package's secrets changed meanwhile; a runner lost mid-step retried; what kubectl
get, the run's status and Events, and the server's history say."""

from __future__ import annotations

import datetime
import hashlib
import json
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.e2e.conftest import Ferris

pytestmark = pytest.mark.cluster

FLAKY = """import hashlib
from ferris_ef import context, get_secret
tries = context.state.get().get("tries", 0) + 1
context.state.put("tries", tries)
print("try", tries, "secret", hashlib.sha256(get_secret("TOKEN").encode()).hexdigest()[:12])
raise SystemExit(0 if tries >= 3 else 1)
"""


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:12]


def wait_for_run(ferris: Ferris, ns: str, name: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while not ferris.exists(ns, "ferrisrun", name):
        assert time.monotonic() < deadline, f"FerrisRun {name} was never made"
        time.sleep(0.5)
    return ferris.wait_run(ns, name, timeout=timeout)


def wait_for_first_attempt(ferris: Ferris, ns: str, name: str) -> dict[str, Any]:
    """The run's script has stored its state and printed so (LOST): a step shown Running may
    not have got that far, and a first attempt killed before it would run as first again."""
    deadline = time.monotonic() + 60
    while not any(
        "first attempt" in log.read_text(errors="replace")
        for log in Path(ferris.stack.cluster.node_dir, "logs", ns).glob(f"{name}-run-*/runner.log")
    ):
        assert time.monotonic() < deadline, ferris.get(ns, "ferrisrun", name).get("status")
        time.sleep(0.3)
    return ferris.get(ns, "ferrisrun", name)


def test_a_failing_step_is_retried_on_the_secrets_version_the_first_attempt_pinned(ferris: Ferris, ns: str) -> None:
    first_value, second_value = "v1-" + uuid.uuid4().hex, "v2-" + uuid.uuid4().hex
    ferris.secret(ns, "src", json.dumps({"TOKEN": first_value}))
    retries = {"limit": 2, "backoffSeconds": 8, "reasons": ["StepFailed"]}
    ferris.package(ns, "flaky", FLAKY, secretsFrom={"secretName": "src"}, retries=retries)
    ferris.wait_condition(ns, "ferrispackage", "flaky", "Ready")
    first = ferris.wait_run(ns, ferris.create_run(ns, "flaky", name="flaky-run"))
    assert (first["status"]["phase"], first["status"]["attempts"]) == ("Failed", "1/3")
    ferris.secret(ns, "src", json.dumps({"TOKEN": second_value}))  # new secrets before attempt 2 starts
    deadline = time.monotonic() + 30
    while (ferris.get(ns, "ferrispackage", "flaky").get("status") or {}).get("secrets", {}).get("version") != 2:
        assert time.monotonic() < deadline, "the package never took the new secrets"
        time.sleep(0.5)
    package_uid = ferris.get(ns, "ferrispackage", "flaky")["metadata"]["uid"]
    with psycopg.connect(ferris.stack.postgres.url) as conn:
        stored = conn.execute(
            "SELECT secrets_version, updated_at FROM packages WHERE uid = %s", (package_uid,)
        ).fetchone()
    assert stored is not None and stored[0] == 2

    second = wait_for_run(ferris, ns, "flaky-run-attempt-2")
    third = wait_for_run(ferris, ns, "flaky-run-attempt-3")
    with psycopg.connect(ferris.stack.postgres.url) as conn:
        began = conn.execute("SELECT created_at FROM runs WHERE uid = %s", (second["metadata"]["uid"],)).fetchone()
    # Otherwise "pinned" proves nothing: attempt 2 would have read version 1 because it was the only one.
    assert began is not None and began[0] > stored[1], "attempt 2 started before the new secrets were stored"
    assert [r["status"]["phase"] for r in (second, third)] == ["Failed", "Succeeded"]
    assert [(r["status"]["attempts"], r["status"]["retryOf"]) for r in (second, third)] == [
        ("2/3", "flaky-run"),
        ("3/3", "flaky-run-attempt-2"),
    ]
    assert [r["spec"]["trigger"] for r in (second, third)] == ["Retry", "Retry"]
    chain = [first, second, third]
    assert [r["status"]["secretsVersion"] for r in chain] == [1, 1, 1]
    outputs = [ferris.steps(r["metadata"]["uid"])[0][4].strip() for r in chain]
    assert outputs == [f"try {n} secret {digest(first_value)}" for n in (1, 2, 3)]
    assert ferris.get(ns, "ferrisrun", "flaky-run")["status"]["nextAttempt"] == "flaky-run-attempt-2"
    scheduled = ferris.wait_events(ns, "flaky-run", "RetryScheduled")
    assert scheduled and "attempt 2 of 3 starts at" in scheduled[0]["message"]
    assert "flaky-run-attempt-2" in scheduled[0]["message"]

    table = ferris.kubectl("get", "ferrisrun", "-n", ns).stdout
    assert "ATTEMPT" in table and any("flaky-run-attempt-3" in line and "3/3" in line for line in table.splitlines())
    history = ferris.ferris("runs", "-n", ns, "--package", "flaky")
    assert history.returncode == 0, history.stderr
    assert any("flaky-run-attempt-2" in line and " 2/3 " in line for line in history.stdout.splitlines())
    later = ferris.wait_run(ns, ferris.create_run(ns, "flaky"))  # a new chain: the current secrets
    assert later["status"]["secretsVersion"] == 2 and later["status"]["attempts"] == "1/3"
    assert ferris.steps(later["metadata"]["uid"])[0][4].strip() == f"try 4 secret {digest(second_value)}"


LOST = """import time
from ferris_ef import context
if not context.state.get().get("lost"):
    context.state.put("lost", True)
    print("first attempt", flush=True)
    time.sleep(120)
print("second attempt")
"""


def test_a_runner_lost_mid_step_is_retried(ferris: Ferris, ns: str) -> None:
    ferris.package(ns, "fragile", LOST, retries={"limit": 1, "backoffSeconds": 1})  # reasons: RunnerLost, Timeout
    ferris.wait_condition(ns, "ferrispackage", "fragile", "Ready")
    name = ferris.create_run(ns, "fragile", name="fragile-run")
    run = wait_for_first_attempt(ferris, ns, name)
    ferris.kill_runner(run["metadata"]["uid"])
    lost = ferris.wait_run(ns, name, timeout=90)["status"]
    [succeeded] = [c for c in lost["conditions"] if c["type"] == "Succeeded"]
    assert (lost["phase"], succeeded["reason"], lost["attempts"]) == ("Failed", "RunnerLost", "1/2")
    retried = wait_for_run(ferris, ns, "fragile-run-attempt-2")
    assert (retried["status"]["phase"], retried["status"]["attempts"]) == ("Succeeded", "2/2")
    assert ferris.steps(retried["metadata"]["uid"])[0][4].strip() == "second attempt"


def test_a_node_restart_ends_a_run_in_flight_as_lost_and_its_next_attempt_runs(ferris: Ferris, ns: str) -> None:
    """The process node SIGKILLed with everything it runs, then started again: it finds the pod
    it was running gone, reports it as a kubelet does (ContainerStatusUnknown, exit code 137,
    never started again), and the run ends RunnerLost instead of staying Running."""
    ferris.package(ns, "on-node", LOST, retries={"limit": 1, "backoffSeconds": 1})
    ferris.wait_condition(ns, "ferrispackage", "on-node", "Ready")
    name = ferris.create_run(ns, "on-node", name="on-node-run")
    wait_for_first_attempt(ferris, ns, name)
    cluster = ferris.stack.cluster
    cluster.crash_node()
    assert ferris.get(ns, "ferrisrun", name)["status"]["phase"] == "Running"  # nobody can tell yet
    cluster.start_node()
    lost = ferris.wait_run(ns, name, timeout=90)["status"]
    [succeeded] = [c for c in lost["conditions"] if c["type"] == "Succeeded"]
    assert (lost["phase"], succeeded["reason"]) == ("Failed", "RunnerLost"), lost
    assert "exit code 137, SIGKILL" in succeeded["message"]
    pod = json.loads(ferris.kubectl("get", "pods", "-n", ns, "-l", f"job-name={name}-run", "-o", "json").stdout)
    [state] = [c["state"]["terminated"] for p in pod["items"] for c in p["status"]["containerStatuses"]]
    assert state["reason"] == "ContainerStatusUnknown" and state["exitCode"] == 137
    retried = wait_for_run(ferris, ns, "on-node-run-attempt-2")
    assert (retried["status"]["phase"], retried["status"]["attempts"]) == ("Succeeded", "2/2")


def test_a_tenants_run_under_the_next_attempts_name_is_not_taken_for_it(ferris: Ferris, ns: str) -> None:
    retries = {"limit": 1, "backoffSeconds": 1, "reasons": ["StepFailed"]}
    ferris.package(ns, "doomed", "raise SystemExit(1)\n", retries=retries)
    ferris.wait_condition(ns, "ferrispackage", "doomed", "Ready")
    # The first run waits 10 s, so that the copy below is surely made before its next attempt
    # would be (a run that failed at once raced the copy on a loaded machine).
    now = datetime.datetime.now(datetime.UTC)
    first_start = (now + datetime.timedelta(seconds=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ferris.create_run(ns, "doomed", name="doomed-run", startAfter=first_start)
    uid = ferris.get(ns, "ferrisrun", "doomed-run")["metadata"]["uid"]
    # Whoever may create FerrisRuns here can read the first run and copy all a retry carries,
    # under the name the next attempt will have, before the operator makes it; not its stamp.
    # Told to wait, the copy would start after the first run failed, as its next attempt.
    later = now + datetime.timedelta(seconds=25)
    squatter = {
        "apiVersion": "ferris.io/v1alpha1",
        "kind": "FerrisRun",
        "metadata": {
            "name": "doomed-run-attempt-2",
            "annotations": {"ferris.io/retry-of": uid, "ferris.io/retry-stamp": "fs1.k1." + "A" * 43},
        },
        "spec": {
            "packageRef": {"name": "doomed"},
            "trigger": "Retry",
            "startAfter": later.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    }
    ferris.apply(ns, squatter)
    assert (ferris.get(ns, "ferrisrun", "doomed-run").get("status") or {}).get("phase") != "Failed"  # copy first
    assert ferris.wait_run(ns, "doomed-run")["status"]["phase"] == "Failed"
    ferris.wait_events(ns, "doomed", "RetryNameTaken", timeout=60)
    status = ferris.wait_run(ns, "doomed-run-attempt-2")["status"]
    assert status.get("retryOf") is None and status["attempts"] != "2/2", status  # no attempt inherited


FIRST = """from ferris_ef import context
count = int(context.state.get().get('first', 0)) + 1
context.state.put('first', count)
print('first ran', count)
"""
SECOND = """import json, sys
from ferris_ef import context
args = json.loads(sys.argv[1])
if not context.state.get().get('fixed'):
    context.state.put('fixed', True)
    raise SystemExit('second fails the first time')
print('second ran with', args['region'])
"""


def test_a_failed_run_is_rerun_from_its_failed_step_and_the_steps_before_do_not_run_again(
    ferris: Ferris, ns: str
) -> None:
    """`ferris rerun RUN --from-step 2` as a ServiceAccount that may read packages and runs and
    create runs, with a token: step 1 is Skipped (its counter in state stays 1), steps 2 and 3
    run with the failed run's params and secrets version. A package that does not allow it
    refuses, naming the field."""
    from .actors import least_privileged, rule

    scripts = [("first.py", FIRST), ("second.py", SECOND), ("third.py", "print('third ran')")]
    ferris.package(ns, "flaky", scripts, allowRerunFromStep=True, params={"region": "eu"})
    ferris.package(ns, "strict", scripts)
    for package in ("flaky", "strict"):
        ferris.wait_condition(ns, "ferrispackage", package, "Ready")
    user = least_privileged(
        ferris,
        ns,
        "rerunner",
        [rule("ferris.io", "ferrispackages", "get"), rule("ferris.io", "ferrisruns", "get", "list", "create")],
    )
    failed = ferris.create_run(ns, "flaky", params={"region": "us"})
    assert ferris.wait_run(ns, failed)["status"]["phase"] == "Failed"

    done = ferris.ferris("rerun", failed, "--from-step", "2", "-n", ns, "--kubeconfig", str(user.kubeconfig))
    assert done.returncode == 0, done.stderr
    again = done.stdout.strip().split("/")[-1].split()[0]
    run = ferris.wait_run(ns, again)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    assert (run["spec"]["rerunOf"], run["spec"]["fromStep"]) == (failed, 2)
    assert [s["phase"] for s in run["status"]["steps"]] == ["Skipped", "Succeeded", "Succeeded"]
    assert run["status"]["secretsVersion"] == ferris.get(ns, "ferrisrun", failed)["status"]["secretsVersion"]
    shown = ferris.ferris("results", again, "-n", ns).stdout
    assert "second ran with us" in shown and "third ran" in shown and "first ran" not in shown
    assert "first ran 1" in ferris.ferris("results", failed, "-n", ns).stdout

    strict = ferris.create_run(ns, "strict")
    ferris.wait_run(ns, strict)
    before = len(ferris.runs(ns, "ferris.io/package=strict"))
    refused = ferris.ferris("rerun", strict, "--from-step", "3", "-n", ns, "--kubeconfig", str(user.kubeconfig))
    assert refused.returncode == 1 and "spec.allowRerunFromStep: true" in refused.stderr, refused.stderr
    assert len(ferris.runs(ns, "ferris.io/package=strict")) == before
    # Made without the server, the operator refuses it the same way.
    manifest = {
        "apiVersion": "ferris.io/v1alpha1",
        "kind": "FerrisRun",
        "metadata": {"name": "strict-from-3"},
        "spec": {"packageRef": {"name": "strict"}, "rerunOf": strict, "fromStep": 3},
    }
    user.create(manifest)
    status = ferris.wait_run(ns, "strict-from-3")["status"]
    [why] = [c for c in status["conditions"] if c["type"] == "Succeeded"]
    assert (status["phase"], why["reason"]) == ("Failed", "RerunRefused")
    assert "spec.allowRerunFromStep: true" in why["message"]
