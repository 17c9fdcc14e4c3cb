"""The control plane restarting under a burst of runs (issue: nothing lost under faults): the
kube-apiserver restarted while 30 runs are being made and run, then etcd; the operator's watches
reconnect by themselves, the runners report to the server all along, and every run ends once,
with one Job. Its own stack: nobody else's watches are cut."""

from __future__ import annotations

import collections
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

from ferris_devcluster.stack import FerrisStack
from tests.e2e.conftest import Ferris

pytestmark = pytest.mark.cluster
SCRIPT = "import time\nprint('start', flush=True)\ntime.sleep(3)\nprint('end')\n"


@pytest.fixture(scope="module")
def world() -> Iterator[Ferris]:
    with FerrisStack() as stack:
        yield Ferris(stack)


def runs(ferris: Ferris, ns: str, count: int) -> list[str]:
    names = []
    for i in range(count):
        while True:  # the API server may be restarting: the same name again, made once
            made = ferris.kubectl("create", "-n", ns, "-f", "-", input=_run(f"burst-{i:02d}"), check=False)
            if made.returncode == 0 or "AlreadyExists" in made.stderr:
                break
            time.sleep(0.5)
        names.append(f"burst-{i:02d}")
    return names


def _run(name: str) -> str:
    return (
        "apiVersion: ferris.io/v1alpha1\nkind: FerrisRun\n"
        f"metadata: {{name: {name}}}\nspec: {{packageRef: {{name: steady}}}}\n"
    )


def ended(ferris: Ferris, ns: str, names: list[str], timeout: float = 240) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, dict[str, Any]] = {}
        try:
            listed = ferris.read(ns, "ferrisrun")["items"]
        except (ApiException, urllib3.exceptions.HTTPError):
            listed = None  # the API server is restarting
        if listed is not None:
            found = {r["metadata"]["name"]: r for r in listed}
            if all((found.get(n, {}).get("status") or {}).get("phase") in ("Succeeded", "Failed") for n in names):
                return found
        assert time.monotonic() < deadline, {n: (found.get(n, {}).get("status") or {}).get("phase") for n in names}
        time.sleep(1)


@pytest.mark.long
def test_the_api_server_then_etcd_restart_under_a_burst_and_every_run_ends_once(world: Ferris) -> None:
    ferris, ns = world, "burst"
    ferris.kubectl("create", "namespace", ns)
    ferris.package(ns, "steady", SCRIPT, successfulRunsHistoryLimit=100)
    ferris.wait_condition(ns, "ferrispackage", "steady", "Ready")
    cluster = ferris.stack.cluster
    first = runs(ferris, ns, 15)
    cluster.restart("kube-apiserver")
    second = runs(ferris, ns, 30)[15:]
    cluster.restart("etcd")
    found = ended(ferris, ns, first + second)
    phases = collections.Counter(found[n]["status"]["phase"] for n in first + second)
    ends = {
        n: [c.get("message") for c in found[n]["status"].get("conditions") or [] if c["type"] == "Succeeded"]
        for n in first + second
    }
    assert phases == {"Succeeded": 30}, (
        phases,
        {n: e for n, e in ends.items() if found[n]["status"]["phase"] != "Succeeded"},
    )
    jobs = ferris.kubectl("get", "jobs", "-n", ns, "-o", "jsonpath={.items[*].metadata.labels.ferris\\.io/run-uid}")
    per_run = collections.Counter(jobs.stdout.split())
    assert len(per_run) == 30 and set(per_run.values()) == {1}, per_run
    uids = [found[name]["metadata"]["uid"] for name in first + second]
    for uid in uids:
        assert ferris.steps(uid)[0][4] == "start\nend\n"
        row = ferris.run_row(uid)
        assert row is not None and row[0] == "Succeeded"  # in history once, with the phase shown
    with psycopg.connect(ferris.stack.postgres.url) as conn:
        end_events = dict(
            conn.execute(
                "SELECT id, count(*) FROM events WHERE namespace = %s AND id = ANY(%s) GROUP BY id", (ns, uids)
            ).fetchall()
        )
    assert {uid: end_events.get(uid, 0) for uid in uids} == dict.fromkeys(uids, 1)  # one end event each
