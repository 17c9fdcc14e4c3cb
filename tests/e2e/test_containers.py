"""Runs in real containers: the node runs the runner image built from runner-image/Dockerfile
(podman + runc), under the security context and limits the operator gives the Job. What the
fast mode cannot show: the runner runs as 65532 on a read-only root with no capabilities, a
memory limit kills a greedy script, and SIGTERM stops a run at once."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from ferris_devcluster.demo import walk_through
from ferris_devcluster.node.container_runtime import NODE_LABEL, node_id
from ferris_devcluster.podman import Podman
from ferris_devcluster.stack import REPO, FerrisStack
from tests.e2e.conftest import Ferris

# One worker runs the container-mode tests, which share one container-mode cluster.
pytestmark = [pytest.mark.cluster, pytest.mark.xdist_group("containers")]

PROBE = r"""
import os

def attempt(label, action):
    try:
        action()
        print(f"{label}: allowed")
    except OSError as exc:
        print(f"{label}: refused ({exc.strerror})")

def write(path):
    with open(path, "w") as f:
        f.write("x")

print(f"uid={os.getuid()} gid={os.getgid()} groups={sorted(os.getgroups())}")
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
print(" ".join(f"{key}={status[key].strip()}" for key in ("CapEff", "CapBnd", "NoNewPrivs")))
attempt("write /", lambda: write("/pwned"))
attempt("write /etc", lambda: write("/etc/pwned"))
attempt("write the runner's code", lambda: write("/opt/ferris/bin/pwned"))
attempt("write /tmp", lambda: write("/tmp/scratch"))
attempt("write the work directory", lambda: write("scratch"))
attempt("become root", lambda: os.setuid(0))
attempt("chown a file", lambda: os.chown("scratch", 0, 0))
"""

GREEDY = """
hoard = []
while True:
    hoard.append(bytearray(1024 * 1024))
"""

SLEEPER = """
import time
print("sleeping", flush=True)
time.sleep(300)
"""


@pytest.fixture(scope="module")
def boxed() -> Iterator[Ferris]:
    with FerrisStack(runtime="containers") as stack:
        yield Ferris(stack)


@pytest.fixture
def box_ns(boxed: Ferris) -> str:
    name = f"box-{int(time.time() * 1000) % 10**8}"
    boxed.kubectl("create", "namespace", name)
    return name


def output(ferris: Ferris, ns: str, run: str) -> str:
    return str(ferris.get(ns, "ferrisrun", run)["status"]["steps"][0].get("outputTail", ""))


@pytest.mark.long
def test_the_runner_container_runs_as_65532_on_a_read_only_root_with_no_capabilities(
    boxed: Ferris, box_ns: str
) -> None:
    boxed.package(box_ns, "probe", PROBE)
    boxed.wait_condition(box_ns, "ferrispackage", "probe", "Ready")
    run = boxed.create_run(box_ns, "probe")
    status = boxed.wait_run(box_ns, run)["status"]
    assert status["phase"] == "Succeeded", status
    text = output(boxed, box_ns, run)
    assert "uid=65532 gid=65532 groups=[65532]" in text
    assert "CapEff=0000000000000000 CapBnd=0000000000000000 NoNewPrivs=1" in text
    for refused in ("write /", "write /etc", "write the runner's code"):
        assert f"{refused}: refused (Read-only file system)" in text, text
    assert "write /tmp: allowed" in text  # the Job's own emptyDir, not the image
    assert "write the work directory: allowed" in text
    assert "become root: refused (Operation not permitted)" in text
    assert "chown a file: refused (Operation not permitted)" in text


def test_a_greedy_script_is_killed_at_its_memory_limit_and_the_run_says_so(boxed: Ferris, box_ns: str) -> None:
    boxed.package(box_ns, "greedy", GREEDY, runner={"resources": {"limits": {"memory": "96Mi"}}})
    boxed.wait_condition(box_ns, "ferrispackage", "greedy", "Ready")
    run = boxed.create_run(box_ns, "greedy")
    status = boxed.wait_run(box_ns, run)["status"]
    cond = next(c for c in status["conditions"] if c["type"] == "Succeeded")
    assert (status["phase"], cond["reason"]) == ("Failed", "OutOfMemory"), status
    assert cond["message"] == (
        "the runner's container was killed at its memory limit of 96Mi during step main.py (OOMKilled): "
        "raise spec.runner.resources.limits.memory, or make the step use less"
    )
    uid = boxed.get(box_ns, "ferrisrun", run)["metadata"]["uid"]
    pods = json.loads(
        boxed.kubectl("get", "pods", "-n", box_ns, "-l", f"ferris.io/run-uid={uid}", "-o", "json").stdout
    )["items"]
    [state] = [c["state"] for p in pods for c in p["status"]["containerStatuses"]]
    assert (state["terminated"]["reason"], state["terminated"]["exitCode"]) == ("OOMKilled", 137)


def test_a_cancelled_run_stops_its_container_at_once_not_after_the_grace_period(boxed: Ferris, box_ns: str) -> None:
    boxed.package(box_ns, "sleeper", SLEEPER)
    boxed.wait_condition(box_ns, "ferrispackage", "sleeper", "Ready")
    run = boxed.create_run(box_ns, "sleeper")
    uid = boxed.get(box_ns, "ferrisrun", run)["metadata"]["uid"]
    deadline = time.monotonic() + 60
    while "sleeping" not in boxed.node_logs():
        assert time.monotonic() < deadline, "the script never started"
        time.sleep(0.5)
    podman = Podman.local()
    label = f"label={NODE_LABEL}={node_id(boxed.stack.cluster.node_dir)}"
    [pod] = boxed.read(box_ns, "pod", selector=f"ferris.io/run-uid={uid}")["items"]
    this_pod = f"label=io.kubernetes.pod.uid={pod['metadata']['uid']}"  # this run's, not any container

    def containers() -> list[str]:
        listed = podman.run("ps", "-q", "--filter", label, "--filter", this_pod, check=False)
        return listed.stdout.split()

    assert containers(), "the runner is not running in a container"
    boxed.kubectl("patch", "ferrisrun", run, "-n", box_ns, "--type=merge", "-p", '{"spec":{"cancel":true}}')
    cancelled = time.monotonic()
    status = boxed.wait_run(box_ns, run)["status"]
    assert status["phase"] == "Cancelled", status
    while containers():
        # The Job's grace period is 30 s: a runner that ignored SIGTERM would still be here.
        assert time.monotonic() - cancelled < 20, f"run {uid}'s container outlived SIGTERM"
        time.sleep(0.5)


def test_the_demo_story_tells_the_same_in_containers(boxed: Ferris, capfd: pytest.CaptureFixture[str]) -> None:
    """`make demo MODE=containers`: the demo's walk-through (kubectl apply -k, `ferris run --wait`,
    results and history through the server, as a user with only a kubeconfig) on the container-mode
    stack; `ferris-devcluster demo --runtime` reaching that stack is a unit test's."""
    assert boxed.stack.cluster.runtime == "containers"
    code = walk_through(boxed.stack, REPO / "examples" / "secrets-demo")
    printed = capfd.readouterr()
    story = printed.out + printed.err
    assert code == 0, story[-4000:]
    assert "DB PASS: ****" in story and "DB PASS: supersecretpas$" in story, story[-4000:]  # masked, then not
    assert "No resources found in ferris-demo namespace." in story  # the source Secrets were ingested
    runs = boxed.read("ferris-demo", "ferrisrun")["items"]
    assert len(runs) == 2 and all(r["status"]["phase"] == "Succeeded" for r in runs), [r["status"] for r in runs]
