"""Runners' reports from the server's runner API to the operator, against a real PostgreSQL:
how long a started step takes to show in the run's status (report stored and announced, heard
by the operator's listener, coalesced, published), how many status writes a run costs for its
reports, and the runner's request time next to the old path's (storing and publishing inside
the request, as the operator's own runner API did), measured in the same run.

Kubernetes is a recorder here (a status write costs nothing), so the old path's figure is a
lower bound: on a cluster each of its requests also waited for a PATCH to the API server.
`python -m bench.reports`; also a stage of `make bench`."""

from __future__ import annotations

import asyncio
import os
import statistics
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from psycopg_pool import ConnectionPool

from bench.database import migrated_database
from bench.stats import percentile, ratio, report
from ferris_operator.crypto.keyring import KeyRing
from ferris_operator.crypto.run_tokens import RunTokens, token_digest
from ferris_operator.kek.secret_ring import ring_providers
from ferris_operator.ownership import Provenance
from ferris_operator.records import NewRun, RunRecord
from ferris_operator.runs.history import History
from ferris_operator.runs.outcomes import Outcomes
from ferris_operator.runs.reports import Reports
from ferris_operator.runs.retries import Retries
from ferris_operator.runs.sightings import Sightings
from ferris_operator.server.runner_api import RunnerApi
from ferris_operator.server.runner_auth import RunTokenAuthenticator
from ferris_operator.settings import Settings
from ferris_operator.store.announcer import Announce, CoalescingAnnouncer, items_of
from ferris_operator.store.db import open_pool
from ferris_operator.store.events import EventStore
from ferris_operator.store.notifications import Listener
from ferris_operator.store.reports import CHANNEL, ReportStore
from ferris_operator.store.runs import RunStore
from ferris_operator.store.vault import Vault
from ferris_operator.work.queue import Coalescer

STEPS = 4


class RecordingKube:
    """Status writes timed by run name; everything else a no-op."""

    def __init__(self) -> None:
        self.writes: dict[str, list[tuple[float, Mapping[str, Any]]]] = {}
        self.lock = threading.Lock()

    def patch_status(self, plural: str, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        with self.lock:
            self.writes.setdefault(name, []).append((time.perf_counter(), status))

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


class InlinePublishing(ReportStore):
    """The old path: the report stored, then the run's status published in the request."""

    def __init__(self, pool: Any, reports: Reports) -> None:
        super().__init__(pool)
        self.reports = reports

    def step(self, uid: str, idx: int, phase: str, *rest: Any) -> bool:
        stored = super().step(uid, idx, phase, *rest)
        if stored and phase == "Running":
            self.reports.on_report(uid)
        return stored

    def finished(self, uid: str, succeeded: bool, message: str) -> None:
        super().finished(uid, succeeded, message)
        self.reports.on_report(uid)


async def _runner(client: TestClient[Any, Any], uid: str, token: str, sent: dict[str, float]) -> list[float]:
    """One runner's reports, as the runner sends them; returns each request's wall time (ms)."""
    headers = {"Authorization": f"Bearer {token}"}
    walls = []
    for idx in range(STEPS):
        for body in ({"phase": "Running"}, {"phase": "Succeeded", "exitCode": 0, "output": f"step {idx}\n"}):
            started = time.perf_counter()
            response = await client.post(f"/v1/runs/{uid}/steps/{idx}", json=body, headers=headers)
            await response.read()
            walls.append((time.perf_counter() - started) * 1000)
            if body["phase"] == "Running":
                sent[f"{uid}/{idx}"] = time.perf_counter()
    started = time.perf_counter()
    response = await client.post(f"/v1/runs/{uid}/finish", json={"succeeded": True, "message": "ok"}, headers=headers)
    await response.read()
    walls.append((time.perf_counter() - started) * 1000)
    return walls


async def _burst(api: RunnerApi, runs: list[tuple[str, str]], sent: dict[str, float]) -> tuple[list[float], float]:
    async with TestClient(TestServer(api.app())) as client:
        started = time.perf_counter()
        walls = await asyncio.gather(*(_runner(client, uid, token, sent) for uid, token in runs))
        return [w for run in walls for w in run], time.perf_counter() - started


def _seed(store: RunStore, tokens: RunTokens, n: int) -> list[tuple[str, str]]:
    runs = []
    for _ in range(n):
        uid = "bench-" + uuid.uuid4().hex[:12]
        token = tokens.issue(uid)
        store.record_start(
            NewRun(uid, "bench", uid, "pkg", "pkg-uid", 1, 1, token_digest(token), [f"s{i}.py" for i in range(STEPS)])
        )
        runs.append((uid, token))
    return runs


def _lags(kube: RecordingKube, sent: dict[str, float]) -> list[float]:
    """For each started step: ms from its report's answer to the first status that shows it."""
    lags = []
    for key, at in sent.items():
        uid, idx = key.split("/")
        shown = [
            t
            for t, status in kube.writes.get(uid, [])
            if len(status.get("steps", [])) > int(idx) and status["steps"][int(idx)]["phase"] != "Pending"
        ]
        if shown:
            lags.append(max(0.0, (min(shown) - at) * 1000))
    return lags


def measure(runs: int = 200) -> dict[str, Any]:
    with migrated_database(pool_size=8) as (url, pool):
        ring = KeyRing({"k1": os.urandom(32)}, "k1")
        tokens, store, vault = (
            RunTokens(dict(ring.keys), ring.active_id),
            RunStore(pool),
            Vault(pool, ring_providers(ring)),
        )
        settings = Settings(database_url=url, master_key_dir=Path("."))
        results: dict[str, Any] = {"runs": runs, "reports_per_run": STEPS * 2 + 1}

        # Now: the server stores and announces; the operator hears, coalesces, publishes,
        # with a pool of its own, as the two processes have. Twice: a NOTIFY in each report's
        # transaction (before), then the server's coalescing announcer (after).
        announcer = CoalescingAnnouncer(pool)
        announcer.start()
        try:
            for key, announce in (("notify_in_each_report", None), ("announced", announcer.announce)):
                results[key] = _announced_path(url, pool, store, tokens, vault, settings, runs, announce)
        finally:
            announcer.stop()

        # Baseline, same run: publishing inside the request.
        kube = RecordingKube()
        inline_reports = Reports(
            store,
            Outcomes(
                kube,
                store,
                History(kube, store, settings, Sightings()),
                Retries(kube, store, tokens),
                Provenance(tokens),
            ),
            Retries(kube, store, tokens),
        )
        inline = InlinePublishing(pool, inline_reports)
        api = RunnerApi(RunTokenAuthenticator(tokens, inline), inline, vault, EventStore(pool))
        seeded = _seed(store, tokens, runs)
        walls, seconds = asyncio.run(_burst(api, seeded, {}))
        results["inline"] = {
            "reports_per_second": runs * results["reports_per_run"] / seconds,
            "request_p50_ms": statistics.median(walls),
            "request_p99_ms": percentile(walls, 99),
            "status_writes_per_run": statistics.mean(len(kube.writes.get(uid, [])) for uid, _ in seeded),
        }
        results["request_p99_ratio"] = ratio(
            results["announced"]["request_p99_ms"], results["inline"]["request_p99_ms"]
        )
        results["coalescing_request_p99_ratio"] = ratio(
            results["announced"]["request_p99_ms"], results["notify_in_each_report"]["request_p99_ms"]
        )
        return results


def _announced_path(
    url: str,
    pool: ConnectionPool,
    store: RunStore,
    tokens: RunTokens,
    vault: Vault,
    settings: Settings,
    runs: int,
    announce: Announce | None,
) -> dict[str, Any]:
    kube = RecordingKube()
    operator_pool = open_pool(url, max_size=8)
    operator_store = RunStore(operator_pool)
    history = History(kube, operator_store, settings, Sightings())
    reports = Reports(
        operator_store,
        Outcomes(kube, operator_store, history, Retries(kube, operator_store, tokens), Provenance(tokens)),
        Retries(kube, operator_store, tokens),
    )
    report_store = ReportStore(pool, announce)
    api = RunnerApi(RunTokenAuthenticator(tokens, report_store), report_store, vault, EventStore(pool))
    seeded = _seed(store, tokens, runs)
    sent: dict[str, float] = {}

    async def announced() -> tuple[list[float], float]:
        loop = asyncio.get_running_loop()
        coalescer = Coalescer(reports.on_report, workers=8)
        worker = asyncio.create_task(coalescer.run())

        def heard(text: str) -> None:  # as the operator takes a payload (app.py)
            for uid in items_of(text) or [uid for uid, _ in seeded]:
                coalescer.add(uid)

        listener = Listener(url, {CHANNEL: lambda text: loop.call_soon_threadsafe(heard, text)}, lambda: None)
        listener.start()
        await asyncio.sleep(0.5)  # listening
        try:
            walls, seconds = await _burst(api, seeded, sent)
            deadline = time.monotonic() + 60
            while not coalescer.idle or (
                time.monotonic() < deadline and bool(await asyncio.to_thread(_unfinished, store, seeded))
            ):
                await asyncio.sleep(0.2)
            return walls, seconds
        finally:
            await asyncio.to_thread(listener.stop)
            worker.cancel()

    try:
        walls, seconds = asyncio.run(announced())
    finally:
        operator_pool.close()
    writes = [len(kube.writes.get(uid, [])) for uid, _ in seeded]
    lags = _lags(kube, sent)
    return {
        "reports_per_second": runs * (STEPS * 2 + 1) / seconds,
        "request_p50_ms": statistics.median(walls),
        "request_p99_ms": percentile(walls, 99),
        "status_writes_per_run": statistics.mean(writes),
        "started_step_to_status_p50_ms": statistics.median(lags) if lags else float("nan"),
        "started_step_to_status_p99_ms": percentile(lags, 99),
        "runs_finished": runs - len(_unfinished(store, seeded)),
    }


def _unfinished(store: RunStore, runs: list[tuple[str, str]]) -> list[str]:
    records: list[RunRecord | None] = [store.get(uid) for uid, _ in runs]
    return [r.uid for r in records if r is not None and not r.terminal]


def summary(r: dict[str, Any]) -> str:
    a, i, n = r["announced"], r["inline"], r["notify_in_each_report"]
    return (
        f"runner reports ({r['runs']} runs x {r['reports_per_run']} reports at once): through the server "
        f"{a['reports_per_second']:.0f}/s, request p50/p99 {a['request_p50_ms']:.1f}/{a['request_p99_ms']:.1f} ms "
        f"(publishing in the request: {i['reports_per_second']:.0f}/s, {i['request_p50_ms']:.1f}/"
        f"{i['request_p99_ms']:.1f} ms, with a Kubernetes that costs nothing); a started step in the status after "
        f"p50 {a['started_step_to_status_p50_ms']:.0f} / p99 {a['started_step_to_status_p99_ms']:.0f} ms; "
        f"{a['status_writes_per_run']:.1f} status writes per run (inline {i['status_writes_per_run']:.1f}); "
        f"{a['runs_finished']}/{r['runs']} finished. A NOTIFY in each report's transaction instead of the coalescing"
        f" announcer: {n['reports_per_second']:.0f}/s, request p50/p99 {n['request_p50_ms']:.1f}/"
        f"{n['request_p99_ms']:.1f} ms (coalesced p99 {r['coalescing_request_p99_ratio']:.2f}x), a started step in"
        f" the status after p50 {n['started_step_to_status_p50_ms']:.0f} ms, {n['runs_finished']}/{r['runs']} finished"
    )


def main() -> None:
    import sys

    report(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 200), summary)


if __name__ == "__main__":
    main()
