"""Reports committed by many runners at once, against a real PostgreSQL: a NOTIFY in each
report's transaction (as before: every such transaction takes PostgreSQL's notify lock while it
commits) against the server's coalescing announcer (what gathered in 20 ms, one NOTIFY per
channel, after the commits), measured in the same run: reports a second, each report's commit
time p50/p99, notifications sent, and the time from a report's commit to its run being heard by
a listener. `python -m bench.notifications [RUNNERS]`; also a stage of `make bench`."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from bench.database import migrated_database
from bench.stats import percentile, ratio, report
from ferris_operator import model
from ferris_operator.records import NewRun
from ferris_operator.store.announcer import Announce, CoalescingAnnouncer, items_of
from ferris_operator.store.reports import CHANNEL, ReportStore
from ferris_operator.store.runs import RunStore

STEPS = 60


def _burst(url: str, pool: ConnectionPool, announce: Announce | None, runners: int) -> dict[str, Any]:
    runs, reports = RunStore(pool), ReportStore(pool, announce)
    uids = []
    for _ in range(runners):
        uid = "bench-" + uuid.uuid4().hex[:10]
        runs.record_start(NewRun(uid, "bench", uid, "pkg", "puid", 1, 1, "d", [f"s{i}.py" for i in range(STEPS)]))
        uids.append(uid)
    committed: dict[str, list[float]] = {uid: [] for uid in uids}
    walls: list[float] = []
    heard: list[tuple[float, list[str] | None]] = []
    listening = threading.Event()
    stop = threading.Event()

    def listen() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("LISTEN " + CHANNEL)
            listening.set()
            while not stop.is_set():
                for n in conn.notifies(timeout=0.2):
                    heard.append((time.monotonic(), items_of(n.payload)))

    def runner(uid: str) -> None:
        for idx in range(STEPS):
            began = time.monotonic()
            reports.step(uid, idx, model.STEP_SUCCEEDED, 0, None, None, "ok\n", True)
            committed[uid].append(time.monotonic())
            walls.append(time.monotonic() - began)

    listener = threading.Thread(target=listen)
    listener.start()
    listening.wait()
    began = time.monotonic()
    threads = [threading.Thread(target=runner, args=(uid,)) for uid in uids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    time.sleep(0.5)
    stop.set()
    listener.join()
    lags = []  # each report: from its commit to the first notification after it that names its run
    for uid, times in committed.items():
        mine = [t for t, items in heard if items is None or uid in items]
        for at in times:
            after = next((t for t in mine if t >= at), None)
            if after is not None:
                lags.append(after - at)
    total = runners * STEPS
    return {
        "reports": total,
        "reports_per_s": total / elapsed,
        "report_ms_p50": 1000 * percentile(walls, 50),
        "report_ms_p99": 1000 * percentile(walls, 99),
        "notifications": len(heard),
        "commit_to_heard_ms_p50": 1000 * percentile(lags, 50),
        "commit_to_heard_ms_p99": 1000 * percentile(lags, 99),
    }


def measure(runners: int = 32) -> dict[str, Any]:
    with migrated_database(pool_size=runners + 2) as (url, pool):
        each = _burst(url, pool, None, runners)
        announcer = CoalescingAnnouncer(pool)
        announcer.start()
        try:
            coalesced = _burst(url, pool, announcer.announce, runners)
        finally:
            announcer.stop()
    return {
        "runners": runners,
        "notify_in_each_report": each,
        "coalesced": coalesced,
        "reports_per_s_ratio": ratio(coalesced["reports_per_s"], each["reports_per_s"]),
        "report_p99_ratio": ratio(coalesced["report_ms_p99"], each["report_ms_p99"]),
        "notifications_ratio": ratio(each["notifications"], coalesced["notifications"]),
    }


def summary(results: dict[str, Any]) -> str:
    each, coalesced = results["notify_in_each_report"], results["coalesced"]
    return (
        f"Reports from {results['runners']} runners at once ({coalesced['reports']} each way): a NOTIFY in each"
        f" report {each['reports_per_s']:.0f}/s, p50/p99 {each['report_ms_p50']:.1f}/{each['report_ms_p99']:.1f} ms,"
        f" {each['notifications']} notifications; coalesced {coalesced['reports_per_s']:.0f}/s"
        f" ({results['reports_per_s_ratio']:.2f}x), p50/p99 {coalesced['report_ms_p50']:.1f}/"
        f"{coalesced['report_ms_p99']:.1f} ms ({results['report_p99_ratio']:.2f}x), with"
        f" {coalesced['notifications']} ({results['notifications_ratio']:.0f}x fewer); commit to heard p50"
        f" {each['commit_to_heard_ms_p50']:.1f} ms against {coalesced['commit_to_heard_ms_p50']:.1f} ms,"
        f" p99 {each['commit_to_heard_ms_p99']:.1f} ms against {coalesced['commit_to_heard_ms_p99']:.1f} ms."
    )


if __name__ == "__main__":
    import sys

    report(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 32), summary)
