"""Two operator replicas (kopf peering, as the chart runs them with replicaCount 2): the active
one SIGKILLed in the middle of a burst of 200 runs, the other takes over, and every run ends
exactly once: one Job, one terminal status, one history row, one end event. The time from the
kill to the takeover (the standby's first run started, having started none before) is printed.
Its own stack."""

from __future__ import annotations

import collections
import datetime
import json
import os
import signal
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import psutil
import psycopg
import pytest

from ferris_devcluster.processes import Supervised
from ferris_devcluster.stack import FerrisStack
from ferris_operator.process.peering import highest_live
from tests.e2e.conftest import Ferris

pytestmark = pytest.mark.cluster
NS, RUNS = "replicas", 200


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[Ferris, Supervised]]:
    with FerrisStack(operator_env={"FERRIS_PEERING": "true", "FERRIS_PEERING_NAME": "ferris"}) as stack:
        second = stack.start_replica("operator-b")
        try:
            yield Ferris(stack), second
        finally:
            second.stop()


def peers(ferris: Ferris) -> dict[str, Any]:
    found = json.loads(ferris.kubectl("get", "clusterkopfpeering", "ferris", "-o", "json").stdout)
    return dict(found.get("status") or {})


def metric(process: Supervised, name: str) -> float:
    """One of the operator's own figures (its /metrics)."""
    port = psutil.Process(process.pid).environ()["FERRIS_HEALTH_PORT"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(f"{name} "))


def runs_started(process: Supervised) -> float:
    """The operator's own count of the runs whose Job it made."""
    return metric(process, "ferris_runs_started_total")


def jobs(ferris: Ferris) -> collections.Counter[str]:
    listed = ferris.kubectl("get", "jobs", "-n", NS, "-o", "jsonpath={.items[*].metadata.labels.ferris\\.io/run-uid}")
    return collections.Counter(listed.stdout.split())


@pytest.mark.long
def test_the_active_replica_killed_mid_burst_the_other_takes_over_and_every_run_ends_once(
    world: tuple[Ferris, Supervised],
) -> None:
    ferris, second = world
    first = ferris.stack.operator
    assert first is not None
    deadline = time.monotonic() + 60
    while len(peers(ferris)) < 2:
        assert time.monotonic() < deadline, peers(ferris)
        time.sleep(0.5)
    leader = highest_live(peers(ferris), datetime.datetime.now(datetime.UTC))
    assert leader is not None
    active, standby = (first, second) if f"-{first.pid}-" in leader else (second, first)
    assert f"-{active.pid}-" in leader, (leader, first.pid, second.pid)

    # Each replica reads the peering object every few seconds: until both have, the one that was
    # alone first may still think itself active. The burst starts once both say who they are.
    while (metric(active, "ferris_replica_active"), metric(standby, "ferris_replica_active")) != (1, 0):
        assert time.monotonic() < deadline, "the replicas never agreed on which is active"
        time.sleep(0.5)

    ferris.kubectl("create", "namespace", NS)
    ferris.package(NS, "burst", "print('ran')", successfulRunsHistoryLimit=1000)
    ferris.wait_condition(NS, "ferrispackage", "burst", "Ready")

    def create() -> None:  # 200 runs over about 20 s, ten at a time
        for batch in range(0, RUNS, 10):
            manifest = "\n---\n".join(
                f"apiVersion: ferris.io/v1alpha1\nkind: FerrisRun\nmetadata: {{name: run-{i:03d}}}\n"
                "spec: {packageRef: {name: burst}}"
                for i in range(batch, batch + 10)
            )
            for _ in range(5):  # apply is idempotent: an API server slow under load is asked again
                applied = ferris.kubectl("apply", "-n", NS, "-f", "-", input=manifest, check=False)
                if applied.returncode == 0:
                    break
                time.sleep(1)
            else:
                raise AssertionError(f"kubectl apply kept failing: {applied.stderr}")
            time.sleep(1)

    creator = threading.Thread(target=create)
    creator.start()
    while len(jobs(ferris)) < 30:
        assert time.monotonic() < deadline + 120, "the burst never got going"
        time.sleep(0.2)
    # The standby has started no run so far: it only waits (its log may say it was active once,
    # alone, before the other replica came: that line is not a takeover).
    assert runs_started(standby) == 0, "the standby started runs while the other was active"
    seen = len(standby.log_path.read_text())
    os.killpg(active.pid, signal.SIGKILL)
    killed_at, made = time.monotonic(), len(jobs(ferris))
    active.process.wait()
    # The takeover is the standby's first action after the kill: its first run started.
    while runs_started(standby) == 0:
        assert time.monotonic() - killed_at < 120, "the standby never took over"
        time.sleep(0.2)
    takeover = time.monotonic() - killed_at
    assert "is active now" in standby.log_path.read_text()[seen:], "the standby acted without becoming active"
    creator.join()
    print(f"takeover {takeover:.1f} s after the active replica was killed, with {made} of {RUNS} Jobs made")

    deadline = time.monotonic() + 360  # within the test timeout (600 s), so that a failure says where the runs stand
    while True:
        listed = json.loads(ferris.kubectl("get", "ferrisrun", "-n", NS, "-o", "json").stdout)["items"]
        phases = collections.Counter((r.get("status") or {}).get("phase") for r in listed)
        if phases.get("Succeeded", 0) + phases.get("Failed", 0) == RUNS or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert phases == {"Succeeded": RUNS}, phases
    per_run = jobs(ferris)
    assert len(per_run) == RUNS and set(per_run.values()) == {1}, collections.Counter(per_run.values())
    with psycopg.connect(ferris.stack.postgres.url) as conn:
        rows = conn.execute(
            "SELECT r.phase, (SELECT count(*) FROM events e WHERE e.namespace = r.namespace AND e.id = r.uid)"
            " FROM runs r WHERE r.namespace = %s",
            (NS,),
        ).fetchall()
    assert collections.Counter(rows) == {("Succeeded", 1): RUNS}
    assert made < RUNS, "every Job was made before the kill: nothing was taken over"
    assert takeover < 60, takeover  # the killed replica's peering record lives 30 s
