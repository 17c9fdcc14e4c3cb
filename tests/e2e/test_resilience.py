"""No lost or duplicated runs: the operator killed mid-burst, PostgreSQL gone for 20 seconds,
the server (and its runner API) restarted mid-run, the operator away while runners report, a
runner killed mid-step."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from typing import LiteralString

import psycopg
import pytest
import yaml
from kubernetes import client

from ferris_devcluster.kube import client_for

from .conftest import Ferris

pytestmark = pytest.mark.cluster


def run_objects(package: str, names: list[str]) -> str:
    return yaml.safe_dump_all(
        [
            {
                "apiVersion": "ferris.io/v1alpha1",
                "kind": "FerrisRun",
                "metadata": {"name": n},
                "spec": {"packageRef": {"name": package}},
            }
            for n in names
        ]
    )


def wait_all(ferris: Ferris, ns: str, names: list[str], timeout: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        items = ferris.read(ns, "ferrisrun")["items"]
        phases = {i["metadata"]["name"]: (i.get("status") or {}).get("phase", "") for i in items}
        if all(phases.get(n) in ("Succeeded", "Failed", "Cancelled") for n in names):
            return phases
        if time.monotonic() > deadline:
            pending = {n: phases.get(n) for n in names if phases.get(n) not in ("Succeeded", "Failed")}
            raise AssertionError(f"runs not finished: {pending}\n{ferris.operator_log()[-3000:]}")
        time.sleep(1)


def count_jobs(batch: client.BatchV1Api, ns: str) -> int:
    response = batch.list_namespaced_job(ns, _preload_content=False)
    return len(json.loads(response.data)["items"])


def test_sigkill_in_a_burst_of_50_runs_neither_loses_nor_duplicates(ferris: Ferris, ns: str) -> None:
    ferris.package(
        ns,
        "burst",
        "import sys, json\nprint('ran', json.loads(sys.argv[1])['run_id'])",
        successfulRunsHistoryLimit=100,
        failedRunsHistoryLimit=100,
    )
    ferris.wait_condition(ns, "ferrispackage", "burst", "Ready")
    names = [f"burst-{i:02d}" for i in range(50)]
    # The runs are created while the test watches: kubectl takes long enough over 50 objects
    # that the operator has made every Job by the time it returns. The operator is killed at
    # the first Job, seen through the API client; the rest of the runs arrive while it is down.
    batch = client.BatchV1Api(client_for(ferris.stack.kubeconfig).api)
    applying = threading.Thread(
        target=ferris.kubectl, args=("apply", "-n", ns, "-f", "-"), kwargs={"input": run_objects("burst", names)}
    )
    applying.start()
    try:
        deadline = time.monotonic() + 60
        while not (made := count_jobs(batch, ns)):
            assert time.monotonic() < deadline, "no Job was created"
            time.sleep(0.005)
        ferris.stack.kill_operator()
        assert made < len(names), f"not mid-burst: all {made} Jobs existed when the operator was killed"
        time.sleep(2)
    finally:
        applying.join()
        if ferris.stack.operator is None:
            ferris.stack.start_operator()  # whatever happened, the tests after this one need an operator
    phases = wait_all(ferris, ns, names, timeout=400)
    assert Counter(phases[n] for n in names) == {"Succeeded": 50}
    jobs = json.loads(ferris.kubectl("get", "jobs", "-n", ns, "-o", "json").stdout)["items"]
    assert Counter(j["metadata"]["labels"]["ferris.io/run"] for j in jobs) == {n: 1 for n in names}
    pods = json.loads(ferris.kubectl("get", "pods", "-n", ns, "-o", "json").stdout)["items"]
    assert Counter(p["metadata"]["labels"]["ferris.io/run"] for p in pods) == {n: 1 for n in names}
    for name in names:
        uid = ferris.get(ns, "ferrisrun", name)["metadata"]["uid"]
        steps = ferris.steps(uid)
        assert len(steps) == 1 and steps[0][2] == "Succeeded" and steps[0][4] == f"ran {uid}\n"


@pytest.mark.long
def test_postgresql_down_for_20_seconds_loses_nothing(ferris: Ferris, ns: str) -> None:
    ferris.package(
        ns,
        "outage",
        "import time\nprint('start', flush=True)\ntime.sleep(4)\nprint('end')",
        successfulRunsHistoryLimit=100,
    )
    ferris.wait_condition(ns, "ferrispackage", "outage", "Ready")
    before = [f"before-{i}" for i in range(4)]
    ferris.kubectl("apply", "-n", ns, "-f", "-", input=run_objects("outage", before))
    for name in before:
        ferris.kubectl("wait", "-n", ns, f"ferrisrun/{name}", "--for=jsonpath={.status.phase}=Running", "--timeout=60s")
    ferris.stack.postgres.stop()
    try:
        during = "during-outage"
        ferris.kubectl("apply", "-n", ns, "-f", "-", input=run_objects("outage", [during]))
        cond = ferris.wait_condition(ns, "ferrisrun", during, "DatabaseUnavailable", timeout=30)
        assert "PostgreSQL is unavailable" in cond["message"]
        time.sleep(15)
    finally:
        ferris.stack.postgres.start()
    phases = wait_all(ferris, ns, [*before, during], timeout=240)
    assert all(phases[n] == "Succeeded" for n in [*before, during]), phases
    for name in [*before, during]:
        uid = ferris.get(ns, "ferrisrun", name)["metadata"]["uid"]
        assert ferris.steps(uid)[0][4] == "start\nend\n"
    # The server's pooled connections died with PostgreSQL: every one of these first requests
    # after its return gets a fresh one, none a 503.
    for name in [*before, during]:
        results = ferris.ferris("results", name, "-n", ns)
        assert results.returncode == 0 and "start\nend" in results.stdout, results.stderr


TWO_STEPS = [
    ("first.py", "print('first done')"),
    ("second.py", "import time\nprint('second started', flush=True)\ntime.sleep(6)\nprint('second done')"),
]


def wait_row(ferris: Ferris, uid: str, condition: LiteralString, timeout: float = 60) -> None:
    """Until the run's row in PostgreSQL meets ``condition`` (SQL over runs and steps)."""
    deadline = time.monotonic() + timeout
    while True:
        with psycopg.connect(ferris.stack.postgres.url) as conn:
            query = "SELECT " + condition + " FROM runs WHERE uid = %s"  # noqa: S608 - literal conditions
            if conn.execute(query, (uid,)).fetchone() == (True,):
                return
        assert time.monotonic() < deadline, f"run {uid}: never {condition}"
        time.sleep(0.2)


def test_runners_keep_their_reports_while_the_server_restarts(ferris: Ferris, ns: str) -> None:
    """The runner API is the server's: a runner whose report finds no server retries until one
    answers, and nothing it reported is lost."""
    ferris.package(ns, "server-gone", TWO_STEPS)
    ferris.wait_condition(ns, "ferrispackage", "server-gone", "Ready")
    name = ferris.create_run(ns, "server-gone")
    uid = ferris.get(ns, "ferrisrun", name)["metadata"]["uid"]
    wait_row(ferris, uid, "(SELECT phase = 'Running' FROM steps WHERE run_uid = runs.uid AND idx = 1)")
    ferris.stack.stop_server()
    try:
        time.sleep(8)  # the second step ends, and its report and the verdict find nobody
        assert ferris.run_row(uid)[0] == "Running"  # type: ignore[index]
    finally:
        ferris.stack.start_server()
    run = ferris.wait_run(ns, name)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    assert [s[2] for s in ferris.steps(uid)] == ["Succeeded", "Succeeded"]
    assert ferris.steps(uid)[1][4] == "second started\nsecond done\n"
    assert [s["phase"] for s in run["status"]["steps"]] == ["Succeeded", "Succeeded"]


def test_what_runners_report_while_the_operator_is_down_is_published_when_it_returns(ferris: Ferris, ns: str) -> None:
    """Reports go to the server and wait in PostgreSQL; the operator takes them up when it
    comes back (after it reconnects, and in the resync), whatever notifications it missed."""
    ferris.package(ns, "operator-gone", TWO_STEPS)
    ferris.wait_condition(ns, "ferrispackage", "operator-gone", "Ready")
    name = ferris.create_run(ns, "operator-gone")
    uid = ferris.get(ns, "ferrisrun", name)["metadata"]["uid"]
    ferris.kubectl("wait", "-n", ns, f"ferrisrun/{name}", "--for=jsonpath={.status.phase}=Running", "--timeout=60s")
    ferris.stack.stop_operator()
    try:
        wait_row(ferris, uid, "runner_succeeded IS NOT NULL AND report_seq > published_seq")
        status = ferris.get(ns, "ferrisrun", name)["status"]
        assert status["phase"] == "Running"  # nobody published while the operator was away
    finally:
        ferris.stack.start_operator()
    run = ferris.wait_run(ns, name)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    assert [s["phase"] for s in run["status"]["steps"]] == ["Succeeded", "Succeeded"]
    wait_row(ferris, uid, "report_seq = published_seq")


def test_a_runner_killed_mid_step_ends_its_run_as_lost_with_the_step_named(ferris: Ferris, ns: str) -> None:
    script = "import time\nprint('started', flush=True)\ntime.sleep(60)\nprint('never')\n"
    ferris.package(ns, "doomed", [("first.py", "print('first done')\n"), ("second.py", script)])
    ferris.wait_condition(ns, "ferrispackage", "doomed", "Ready")
    name = ferris.create_run(ns, "doomed")
    deadline = time.monotonic() + 60
    while True:
        run = ferris.get(ns, "ferrisrun", name)
        steps = (run.get("status") or {}).get("steps") or []
        if len(steps) == 2 and steps[1].get("phase") == "Running":
            break
        assert time.monotonic() < deadline, run.get("status")
        time.sleep(0.3)
    ferris.kill_runner(run["metadata"]["uid"])
    finished = ferris.wait_run(ns, name, timeout=90)["status"]
    [succeeded] = [c for c in finished["conditions"] if c["type"] == "Succeeded"]
    assert (finished["phase"], succeeded["reason"]) == ("Failed", "RunnerLost"), finished
    assert "killed during step second.py without reporting its end (exit code 137, SIGKILL)" in succeeded["message"]
    assert [s["phase"] for s in finished["steps"]] == ["Succeeded", "Failed"]
    assert ferris.steps(run["metadata"]["uid"])[0][4] == "first done\n"
