"""A failover of PostgreSQL in the middle of a burst of runs: the local stack's database is a
primary and a synchronous standby (devcluster/replicated.py); once half of the burst is
created, the primary's node is lost and the standby promoted, while runs are being created,
started, reported on and ended. Then every run is accounted for as the soak does
(bench/soak.py): ended once, one Job, one execution of its script, its history row with that
phase and exactly one end event.

`python -m bench.failover [RUNS]` prints the burst with a failover beside the same burst
without one (the baseline, on a stack of its own in the same run); a stage of `make bench`;
`tests/e2e/test_failover.py` runs the failover half in `make test`.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.cluster import namespace, wait_ready
from bench.soak import NS, PACKAGE, TERMINAL, Soak, account, create_run, jobs_per_run, list_runs, make_package, retrying
from bench.stats import ratio
from ferris_devcluster import interrupts
from ferris_devcluster.kube import client_for
from ferris_devcluster.replicated import Failover, ReplicatedPostgres
from ferris_devcluster.stack import FerrisStack

# Quick scripts: the burst is about the database under the runs, not the runs' length.
SCRIPT = """import json, os, sys
argument = json.loads(sys.argv[1])
open(os.path.join(argument["markers"], f"{argument['run_id']}.{os.getpid()}"), "w").close()
print("done", argument["run_id"])
"""
CREATORS = 4  # threads creating the burst's FerrisRuns
END_SECONDS = 420.0  # how long the runs may take to end after the last is created


@dataclass
class Burst:
    runs: int
    failover: Failover | None = None
    created_at_failover: int = 0  # FerrisRuns created before the primary was lost
    jobs_at_failover: int = 0  # and their Jobs made
    seconds: float = 0.0  # from the first create to the last run's end
    ledger: Soak = field(default_factory=Soak)

    def moment(self) -> str:
        if self.failover is None:
            return "no failover"
        return (
            f"failover after {self.created_at_failover} runs created and {self.jobs_at_failover} Jobs made"
            f" (promoted in {self.failover.promoted:.2f} s, a new standby in {self.failover.replaced:.1f} s)"
        )

    def summary(self) -> str:
        ledger = self.ledger
        failed = ", ".join(f"{reason} {n}" for reason, n in sorted(ledger.failed.items())) or "none"
        return (
            f"{self.runs} runs, {self.moment()}: all ended in {self.seconds:.0f} s; succeeded {ledger.succeeded},"
            f" failed {sum(ledger.failed.values())} ({failed}), retried {ledger.retried}, duplicated"
            f" {len(ledger.duplicated)} {ledger.duplicated[:5]}, lost {len(ledger.lost)} {ledger.lost[:5]}"
        )


def burst(runs: int, failover: bool, say: Callable[[str], None] = print) -> Burst:
    """``runs`` FerrisRuns created as fast as CREATORS threads can, on a fresh replicated stack;
    with ``failover``, the standby promoted once half of them are created."""
    result = Burst(runs)
    markers = Path(tempfile.mkdtemp(prefix="ferris-failover-", dir="/var/tmp"))
    markers.chmod(0o777)  # scripts write here as the runner's user (see bench/soak.py)
    try:
        with FerrisStack(replicated=True) as stack:
            assert isinstance(stack.postgres, ReplicatedPostgres)
            api = client_for(stack.kubeconfig).api
            api.configuration.connection_pool_maxsize = 16
            namespace(api, NS)
            make_package(api, SCRIPT)
            wait_ready(api, NS, PACKAGE)
            names = [f"burst-{i:05d}" for i in range(runs)]
            created: list[str] = []
            started = time.monotonic()
            creators = [
                threading.Thread(target=_create_every, args=(api, names[i::CREATORS], str(markers), created))
                for i in range(CREATORS)
            ]
            for thread in creators:
                thread.start()
            if failover:
                while len(created) < runs // 2:
                    time.sleep(0.1)
                result.created_at_failover = len(created)
                result.jobs_at_failover = sum(jobs_per_run(api).values())
                result.failover = stack.postgres.promote()
                say(f"[{time.monotonic() - started:5.0f} s] {result.moment()}")
            for thread in creators:
                thread.join()
            say(f"[{time.monotonic() - started:5.0f} s] {runs} runs created; waiting for every run to end")
            deadline = time.monotonic() + END_SECONDS
            while True:
                listed = retrying(lambda: list_runs(api))
                if all((r.get("status") or {}).get("phase") in TERMINAL for r in listed) or time.monotonic() > deadline:
                    break
                time.sleep(2)
            result.seconds = time.monotonic() - started
            result.ledger.created = runs
            account(result.ledger, names, listed, retrying(lambda: jobs_per_run(api)), stack.postgres.url, markers)
    finally:
        shutil.rmtree(markers, ignore_errors=True)
    return result


def _create_every(api: Any, names: list[str], markers: str, created: list[str]) -> None:
    for name in names:
        create_run(api, name, markers)
        created.append(name)


def measure(runs: int = 500, say: Callable[[str], None] = print) -> dict[str, Any]:
    baseline = burst(runs, failover=False, say=say)
    with_failover = burst(runs, failover=True, say=say)
    return {
        "runs": runs,
        "baseline": _figures(baseline),
        "failover": _figures(with_failover),
        "seconds_ratio": ratio(with_failover.seconds, baseline.seconds),
    }


def _figures(result: Burst) -> dict[str, Any]:
    return {
        "seconds": round(result.seconds, 1),
        "runs_per_s": round(result.runs / result.seconds, 2) if result.seconds else None,
        "created_at_failover": result.created_at_failover,
        "jobs_at_failover": result.jobs_at_failover,
        "failover": asdict(result.failover) if result.failover else None,
        "succeeded": result.ledger.succeeded,
        "failed": result.ledger.failed,
        "retried": result.ledger.retried,
        "duplicated": len(result.ledger.duplicated),
        "lost": len(result.ledger.lost),
    }


def summary(results: dict[str, Any]) -> str:
    base, fail = results["baseline"], results["failover"]
    promoted = fail["failover"] or {}
    return (
        f"PostgreSQL failover mid-burst of {results['runs']} runs: all ended in {fail['seconds']:.0f} s vs"
        f" {base['seconds']:.0f} s without (ratio {results['seconds_ratio']:.2f}); promoted in"
        f" {promoted.get('promoted', 0):.2f} s after {fail['created_at_failover']} runs and"
        f" {fail['jobs_at_failover']} Jobs; succeeded {fail['succeeded']},"
        f" failed {sum(fail['failed'].values())}, retried {fail['retried']}, duplicated {fail['duplicated']},"
        f" lost {fail['lost']} (baseline: duplicated {base['duplicated']}, lost {base['lost']})"
    )


def main() -> None:
    interrupts.install()
    results = measure(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
    print(summary(results))
    raise SystemExit(1 if results["failover"]["duplicated"] or results["failover"]["lost"] else 0)


if __name__ == "__main__":
    main()
