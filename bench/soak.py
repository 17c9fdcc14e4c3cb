"""`make soak`: runs created at a steady rate for a while (15 minutes by default) on the local
cluster, with a fault every 30-60 s chosen at random among an operator SIGKILL, a PostgreSQL
restart, a PostgreSQL failover (the primary's node lost, the synchronous standby promoted:
devcluster/replicated.py), a kube-apiserver restart and a process-node crash and restart. Then it waits for every
run to end and counts: created, succeeded, failed by reason, retried (the package retries a
lost runner and a timeout twice), duplicated and lost, both of which must be 0.

A script leaves one marker file per execution, named by its run, so a run whose scripts ran
twice is seen; a run with two Jobs, or two ends in history, is a duplicate too. A FerrisRun
that never ends, or ends without its history row, is lost. `tests/e2e/test_soak.py` runs two
minutes of it in `make test`.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bench.cluster import namespace, wait_ready
from ferris_devcluster import interrupts
from ferris_devcluster.kube import client_for
from ferris_devcluster.replicated import ReplicatedPostgres
from ferris_devcluster.stack import FerrisStack

NS = "soak"
PACKAGE = "steady"
FAULTS = (
    "operator SIGKILL",
    "PostgreSQL restart",
    "PostgreSQL failover",
    "kube-apiserver restart",
    "process-node restart",
)
SCRIPT = """import json, os, random, sys, time
argument = json.loads(sys.argv[1])
open(os.path.join(argument["markers"], f"{argument['run_id']}.{os.getpid()}"), "w").close()
time.sleep(random.uniform(0.5, 3))
print("done", argument["run_id"])
"""
RESTART_SECONDS = 300.0  # how long a restarted control-plane process may take to be ready
TERMINAL = ("Succeeded", "Failed", "Cancelled")


@dataclass
class Soak:
    created: int = 0
    succeeded: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    retried: int = 0  # attempts after a first one
    duplicated: list[str] = field(default_factory=list)  # runs that ran, were made or ended twice
    lost: list[str] = field(default_factory=list)  # created and gone, never ended, outside history, no end event
    faults: list[tuple[float, str, float]] = field(default_factory=list)  # (at s, fault, seconds it took)
    seconds: float = 0.0
    seed: int = 0  # --seed SEED chooses the same faults at the same times again

    def summary(self) -> str:
        failed = ", ".join(f"{reason} {n}" for reason, n in sorted(self.failed.items())) or "none"
        faults = collections.Counter(kind for _, kind, _ in self.faults)
        return (
            f"soak {self.seconds / 60:.1f} min: created {self.created}, succeeded {self.succeeded}, failed "
            f"{sum(self.failed.values())} ({failed}), retried {self.retried}, duplicated {len(self.duplicated)}, "
            f"lost {len(self.lost)}; {len(self.faults)} faults ("
            + ", ".join(f"{kind} {n}" for kind, n in sorted(faults.items()))
            + f"); seed {self.seed}"
        )


def make_package(api: client.ApiClient, script: str = SCRIPT) -> None:
    spec = {
        "scripts": [{"name": "steady.py", "content": script}],
        "successfulRunsHistoryLimit": 1000,
        "failedRunsHistoryLimit": 1000,
        "ttlSecondsAfterFinished": 86400,
        "timeoutSeconds": 120,
        "retries": {"limit": 2, "backoffSeconds": 2, "reasons": ["RunnerLost", "Timeout"]},
    }
    body = {"apiVersion": "ferris.io/v1alpha1", "kind": "FerrisPackage", "metadata": {"name": PACKAGE}, "spec": spec}
    client.CustomObjectsApi(api).create_namespaced_custom_object("ferris.io", "v1alpha1", NS, "ferrispackages", body)


def create_run(api: client.ApiClient, name: str, markers: str) -> None:
    """One FerrisRun, by name: made once even when the API server restarts under the call."""
    body = {
        "apiVersion": "ferris.io/v1alpha1",
        "kind": "FerrisRun",
        "metadata": {"name": name},
        "spec": {"packageRef": {"name": PACKAGE}, "params": {"markers": markers}},
    }
    custom = client.CustomObjectsApi(api)
    deadline = time.monotonic() + 120
    while True:
        try:
            custom.create_namespaced_custom_object("ferris.io", "v1alpha1", NS, "ferrisruns", body)
            return
        except ApiException as exc:
            if exc.status == 409:
                return  # the first call made it
            if time.monotonic() > deadline:
                raise
        except Exception:  # the API server restarting: connection refused, reset
            if time.monotonic() > deadline:
                raise
        time.sleep(0.5)


def _fault(stack: FerrisStack, kind: str) -> None:
    if kind == "operator SIGKILL":
        stack.kill_operator()
        stack.start_operator()
    elif kind == "PostgreSQL restart":
        stack.postgres.stop()
        stack.postgres.start()
    elif kind == "PostgreSQL failover":
        assert isinstance(stack.postgres, ReplicatedPostgres)
        stack.postgres.promote()
    elif kind == "kube-apiserver restart":
        # A restart of the API server under a loaded machine (make test runs a 500-run burst
        # beside the soak) has taken more than the cluster's usual 90 s to be ready again.
        stack.cluster.restart("kube-apiserver", timeout=RESTART_SECONDS)
    else:
        stack.cluster.crash_node()
        stack.cluster.start_node()


def retrying(read: Callable[[], Any], seconds: float = 120) -> Any:
    """A read that outlives a restart of the API server or PostgreSQL going on."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return read()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def list_runs(api: client.ApiClient) -> list[dict[str, Any]]:
    custom: Any = client.CustomObjectsApi(api)
    return list(custom.list_namespaced_custom_object("ferris.io", "v1alpha1", NS, "ferrisruns")["items"])


def jobs_per_run(api: client.ApiClient) -> collections.Counter[str]:
    batch: Any = client.BatchV1Api(api)
    jobs = batch.list_namespaced_job(NS).items
    return collections.Counter((job.metadata.labels or {}).get("ferris.io/run-uid", "") for job in jobs)


def soak(
    minutes: float,
    rate: float = 1.0,
    fault_every: tuple[float, float] = (30.0, 60.0),
    seed: int | None = None,
    say: Callable[[str], None] = print,
    each_fault_once: bool = False,
) -> Soak:
    """Run the soak on a fresh local stack; the stack and the markers are gone afterwards.

    Faults are chosen at random, or with `each_fault_once` every kind comes once, in a random
    order, and no fault after them (a short soak that still meets every kind: when a fault is
    slow, as a restart of the API server under load can be, the pauses left shrink, and the
    last faults may come after the planned end)."""
    seed = random.SystemRandom().randrange(2**32) if seed is None else seed
    chance = random.Random(seed)
    result = Soak(seed=seed)
    # Outside /tmp, which each runner pod has of its own: the process node runs scripts as host
    # processes, so they write here directly (with real containers this would be a volume).
    markers = Path(tempfile.mkdtemp(prefix="ferris-soak-", dir="/var/tmp"))
    markers.chmod(0o777)  # scripts write here as the runner's user
    try:
        with FerrisStack(replicated=True) as stack:
            api = client_for(stack.kubeconfig).api
            namespace(api, NS)
            make_package(api)
            wait_ready(api, NS, PACKAGE)
            started = time.monotonic()
            stop = threading.Event()
            names: list[str] = []

            def create() -> None:  # at the rate on average: after a stall (a fault), it catches up
                while not stop.is_set():
                    name = f"soak-{len(names):05d}"
                    create_run(api, name, str(markers))
                    names.append(name)
                    stop.wait(max(0.0, started + len(names) / rate - time.monotonic()))

            creator = threading.Thread(target=create, name="creator", daemon=True)
            creator.start()
            end = started + minutes * 60
            planned = chance.sample(FAULTS, len(FAULTS)) if each_fault_once else []
            while not each_fault_once or planned:
                pause = chance.uniform(*fault_every)
                if each_fault_once:  # every kind comes, a slow one before it or not: pauses shrink to fit
                    pause = min(pause, max(0.0, (end - time.monotonic()) / (len(planned) + 1)))
                elif time.monotonic() + pause > end:
                    break
                time.sleep(pause)
                kind = planned.pop() if each_fault_once else chance.choice(FAULTS)
                at = time.monotonic()
                _fault(stack, kind)
                result.faults.append((at - started, kind, time.monotonic() - at))
                say(f"[{at - started:5.0f} s] {kind} ({time.monotonic() - at:.1f} s); {len(names)} runs created")
            time.sleep(max(0.0, end - time.monotonic()))
            stop.set()
            creator.join()
            result.created = len(names)
            say(f"[{time.monotonic() - started:5.0f} s] {len(names)} runs created; waiting for every run to end")
            deadline = time.monotonic() + 300
            while True:
                runs = retrying(lambda: list_runs(api))
                open_runs = [r for r in runs if (r.get("status") or {}).get("phase") not in TERMINAL]
                if not open_runs or time.monotonic() > deadline:
                    break
                time.sleep(2)
            result.seconds = time.monotonic() - started
            account(result, names, runs, retrying(lambda: jobs_per_run(api)), stack.postgres.url, markers)
    finally:
        shutil.rmtree(markers, ignore_errors=True)
    return result


def account(
    result: Soak,
    created: list[str],
    runs: list[dict[str, Any]],
    jobs: collections.Counter[str],
    database: str,
    markers: Path,
) -> None:
    """Account for every run: each name in the ledger of created ones must be listed at the end
    (history limits are far above what a soak makes), and every listed run, attempts included,
    must have ended once, be in history with that phase, and have exactly one end event."""
    listed = {run["metadata"]["name"] for run in runs}
    result.lost += [f"{name} (created, never listed)" for name in created if name not in listed]
    executions = collections.Counter(path.name.split(".")[0] for path in markers.iterdir())
    with psycopg.connect(database) as conn:
        history = {
            str(uid): (str(phase), int(ended))
            for uid, phase, ended in conn.execute(
                "SELECT r.uid, r.phase, (SELECT count(*) FROM events e WHERE e.namespace = r.namespace"
                " AND e.id = r.uid) FROM runs r WHERE r.namespace = %s",
                (NS,),
            ).fetchall()
        }
    for run in runs:
        meta, status = run["metadata"], run.get("status") or {}
        uid, phase = meta["uid"], status.get("phase")
        reason = next((c.get("reason") for c in status.get("conditions") or [] if c["type"] == "Succeeded"), "")
        if (status.get("attempt") or 1) > 1:
            result.retried += 1
        if phase not in TERMINAL or history.get(uid, ("", 0))[0] != phase:
            result.lost.append(meta["name"])
            continue
        if history[uid][1] == 0:
            result.lost.append(f"{meta['name']} (no end event)")
            continue
        if phase == "Succeeded":
            result.succeeded += 1
        else:
            result.failed[reason or phase] = result.failed.get(reason or phase, 0) + 1
        if executions[uid] > 1 or jobs[uid] > 1 or history[uid][1] > 1:
            result.duplicated.append(meta["name"])


def main() -> None:
    parser = argparse.ArgumentParser(prog="make soak")
    parser.add_argument("--minutes", type=float, default=15)
    parser.add_argument("--rate", type=float, default=1.0, help="runs created per second")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    interrupts.install()
    result = soak(args.minutes, args.rate, seed=args.seed)
    print(result.summary())
    print(json.dumps({"duplicated": result.duplicated, "lost": result.lost}))
    raise SystemExit(1 if result.duplicated or result.lost else 0)


if __name__ == "__main__":
    main()
