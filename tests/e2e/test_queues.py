"""Runs waiting in Kueue (chart kueue.enabled): Kueue v0.17 built from its module and run beside
the local cluster (devcluster/kueue.py), the chart's three lanes applied, a ClusterQueue with
room for one runner. Each run's Job is made suspended in its package's queue and lane; Kueue
admits them by lane. Its own stack: its ClusterQueue would hold everyone else's runs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ferris_devcluster.stack import FerrisStack
from ferris_operator.model import job_name
from tests.e2e.conftest import Ferris

pytestmark = [pytest.mark.cluster, pytest.mark.xdist_group("kueue")]  # one stack with Kueue for the module
NS = "queued"


def one_runner_at_a_time(namespace: str) -> list[dict[str, Any]]:
    return [
        {"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "ResourceFlavor", "metadata": {"name": "local"}},
        {
            "apiVersion": "kueue.x-k8s.io/v1beta2",
            "kind": "ClusterQueue",
            "metadata": {"name": "one-at-a-time"},
            "spec": {
                "namespaceSelector": {},
                "queueingStrategy": "StrictFIFO",
                "resourceGroups": [
                    {
                        "coveredResources": ["pods"],
                        "flavors": [{"name": "local", "resources": [{"name": "pods", "nominalQuota": 1}]}],
                    }
                ],
            },
        },
        {
            "apiVersion": "kueue.x-k8s.io/v1beta2",
            "kind": "LocalQueue",
            "metadata": {"name": "ferris", "namespace": namespace},
            "spec": {"clusterQueue": "one-at-a-time"},
        },
    ]


@pytest.fixture(scope="module")
def queued() -> Iterator[Ferris]:
    with FerrisStack(kueue=True) as stack:
        ferris = Ferris(stack)
        ferris.kubectl("create", "namespace", NS)
        ferris.apply(NS, *one_runner_at_a_time(NS))
        yield ferris


def taking_the_room(ferris: Ferris, package: str) -> str:
    """A run of ``package``, once it is admitted and running: the queue's one runner is taken."""
    run = ferris.create_run(NS, package)
    deadline = time.monotonic() + 60
    while ferris.get(NS, "ferrisrun", run).get("status", {}).get("phase") != "Running":
        assert time.monotonic() < deadline, f"{run} was never admitted"
        time.sleep(0.5)
    return run


def job_of(ferris: Ferris, run: str) -> dict[str, Any]:
    """The run's Job, once it is made."""
    deadline = time.monotonic() + 60
    while (found := ferris.kubectl("get", "job", job_name(run), "-n", NS, "-o", "json", check=False)).returncode:
        assert time.monotonic() < deadline, f"no Job for {run}"
        time.sleep(0.5)
    return dict(json.loads(found.stdout))


def started_at(ferris: Ferris, run: str) -> str:
    finished = ferris.wait_run(NS, run, timeout=240)
    assert finished["status"]["phase"] == "Succeeded", finished["status"]
    return str(finished["status"]["steps"][0]["startedAt"])


@pytest.mark.long
def test_runs_queued_behind_a_busy_runner_start_by_lane_not_by_arrival(queued: Ferris) -> None:
    ferris = queued
    ferris.package(NS, "blocker", "import time; time.sleep(15)")
    for priority in (9, 5, 2):
        ferris.package(NS, f"p{priority}", "print('ran')", priority=priority)
    for name in ("blocker", "p9", "p5", "p2"):
        ferris.wait_condition(NS, "ferrispackage", name, "Ready")
    taking_the_room(ferris, "blocker")
    runs = {}
    for priority in (9, 5, 2):  # the least urgent first
        runs[priority] = ferris.create_run(NS, f"p{priority}")
        time.sleep(1)  # arrival order is plain to Kueue
    for priority, run in runs.items():
        job = job_of(ferris, run)
        lane = {9: "ferris-slow", 5: "ferris-default", 2: "ferris-fast"}[priority]
        assert job["metadata"]["labels"]["kueue.x-k8s.io/priority-class"] == lane
        assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "ferris"
        assert job["spec"]["suspend"] is True, "a run started while the only runner's room was taken"
        ready = ferris.wait_condition(NS, "ferrisrun", run, "Queued", timeout=30)
        assert f"queue ferris, priority {priority} ({lane})" in ready["message"]
        assert ferris.get(NS, "ferrisrun", run)["status"]["phase"] == "Pending"
    started = {priority: started_at(ferris, run) for priority, run in runs.items()}
    assert sorted(started, key=lambda p: started[p]) == [2, 5, 9], started
    for run in runs.values():  # no pod before admission: one made, none stopped by Kueue
        assert pod_events(ferris, job_name(run)) == ["SuccessfulCreate"], run


def pod_events(ferris: Ferris, job: str) -> list[str]:
    """What the Job controller did with the Job's pods, as its Events say."""
    listed = ferris.kubectl(
        "get",
        "events",
        "-n",
        NS,
        "--field-selector",
        f"involvedObject.kind=Job,involvedObject.name={job}",
        "-o",
        "json",
    )
    reasons = [e["reason"] for e in json.loads(listed.stdout)["items"]]
    return [r for r in reasons if r in ("SuccessfulCreate", "SuccessfulDelete")]


def test_the_example_queues_are_valid_kueue_objects(queued: Ferris) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "kueue" / "queues.yaml"
    checked = queued.kubectl("apply", "--dry-run=server", "-f", str(example), check=False)
    assert checked.returncode == 0, checked.stderr


def test_a_runs_own_priority_puts_it_in_another_lane(queued: Ferris) -> None:
    ferris = queued
    ferris.package(NS, "slow-one", "print('ran')", priority=9)
    ferris.wait_condition(NS, "ferrispackage", "slow-one", "Ready")
    run = ferris.create_run(NS, "slow-one", priority=1)
    job = job_of(ferris, run)
    assert job["metadata"]["labels"]["kueue.x-k8s.io/priority-class"] == "ferris-fast"
    assert ferris.wait_run(NS, run, timeout=240)["status"]["phase"] == "Succeeded"


def test_a_runs_timeout_counts_from_its_admission_not_from_its_wait(queued: Ferris) -> None:
    """Queued 20 s behind a busy runner with timeoutSeconds 10 and a 3 s script: it succeeds."""
    ferris = queued
    ferris.package(NS, "holder", "import time; time.sleep(20)")
    ferris.package(NS, "short", "import time; time.sleep(3)", timeoutSeconds=10)
    for name in ("holder", "short"):
        ferris.wait_condition(NS, "ferrispackage", name, "Ready")
    holder = taking_the_room(ferris, "holder")
    short = ferris.create_run(NS, "short")
    ferris.wait_condition(NS, "ferrisrun", short, "Queued", timeout=30)
    finished = ferris.wait_run(NS, short, timeout=240)
    assert finished["status"]["phase"] == "Succeeded", finished["status"]
    assert ferris.wait_run(NS, holder, timeout=60)["status"]["phase"] == "Succeeded"
