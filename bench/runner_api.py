"""The runner API under a flood, against a real PostgreSQL: what a request with a token the
operator never issued costs the server next to a real request of a run (token checked, state read),
what a nested-JSON flood does to memory, and what setting an output costs next to writing a
state key of the same size (encrypted). `python -m bench.runner_api`; also a stage of
`make bench`."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from typing import Any

import psutil
from aiohttp.test_utils import TestClient, TestServer

from bench.database import migrated_database
from bench.stats import report
from ferris_operator.crypto.keyring import KeyRing
from ferris_operator.crypto.run_tokens import RunTokens, token_digest
from ferris_operator.kek.secret_ring import ring_providers
from ferris_operator.records import NewRun, RunRecord
from ferris_operator.server.runner_api import RunnerApi
from ferris_operator.server.runner_auth import RunTokenAuthenticator
from ferris_operator.store.events import EventStore
from ferris_operator.store.reports import ReportStore
from ferris_operator.store.runs import RunStore
from ferris_operator.store.vault import Vault
from ferris_operator.work.ratelimit import TokenBuckets


class CountingReports(ReportStore):
    queries = 0

    def get(self, uid: str) -> RunRecord | None:
        self.queries += 1
        return super().get(uid)


async def _timed(client: TestClient[Any, Any], path: str, token: str, n: int) -> tuple[list[float], float, set[int]]:
    """Per-request wall times (ms), CPU seconds of this process, and the statuses seen."""
    walls, statuses = [], set()
    cpu = time.process_time()
    for _ in range(n):
        started = time.perf_counter()
        response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
        await response.read()
        walls.append((time.perf_counter() - started) * 1000)
        statuses.add(response.status)
    return walls, time.process_time() - cpu, statuses


async def _timed_puts(client: TestClient[Any, Any], path: str, token: str, n: int) -> list[float]:
    """Per-request wall times (ms) of ``n`` PUTs of a 1 KiB value under ``path`` + an index."""
    walls = []
    body = json.dumps({"value": "v" * 1024})
    for i in range(n):
        started = time.perf_counter()
        response = await client.put(f"{path}{i % 32}", data=body, headers={"Authorization": f"Bearer {token}"})
        await response.read()
        assert response.status == 200, await response.text()
        walls.append((time.perf_counter() - started) * 1000)
    return walls


async def _flood(api: RunnerApi, reports: CountingReports, uid: str, token: str, n: int) -> dict[str, Any]:
    async with TestClient(TestServer(api.app())) as client:
        path = f"/v1/runs/{uid}/state"
        await _timed(client, path, token, 50)  # warm-up
        valid, valid_cpu, valid_status = await _timed(client, path, token, n)
        before = reports.queries
        made_up, made_up_cpu, made_up_status = await _timed(client, path, "x" * 40, n)
        queries = reports.queries - before
        body = b'{"value": [' + b"{}," * (8 * 1024 * 1024 // 3) + b"{}]}"
        process = psutil.Process()
        rss = process.memory_info().rss
        flooded = await client.put(f"/v1/runs/{uid}/state/k", data=body, headers={"Authorization": f"Bearer {token}"})
        grown = (process.memory_info().rss - rss) / 2**20
        # Baseline, same run: what parsing that body costs, as an unbounded API did.
        rss = process.memory_info().rss
        parsed = json.loads(body)
        baseline = (process.memory_info().rss - rss) / 2**20
        del parsed
        state_puts = await _timed_puts(client, f"/v1/runs/{uid}/state/k", token, n // 4)
        output_puts = await _timed_puts(client, f"/v1/runs/{uid}/outputs/o", token, n // 4)
    return {
        "state_put_p50_ms": statistics.median(state_puts),
        "output_put_p50_ms": statistics.median(output_puts),
        "output_over_state_put": statistics.median(output_puts) / statistics.median(state_puts),
        "requests_each": n,
        "valid_status": sorted(valid_status),
        "made_up_status": sorted(made_up_status),
        "valid_p50_ms": statistics.median(valid),
        "made_up_p50_ms": statistics.median(made_up),
        "valid_cpu_us_per_request": valid_cpu / n * 1e6,
        "made_up_cpu_us_per_request": made_up_cpu / n * 1e6,
        "made_up_over_valid_cpu": made_up_cpu / valid_cpu,
        "database_queries_for_made_up_tokens": queries,
        "nested_flood_status": flooded.status,
        "nested_flood_rss_growth_mib": grown,
        "baseline_parse_rss_growth_mib": baseline,
    }


def measure(requests: int = 2000) -> dict[str, Any]:
    with migrated_database() as (_, pool):
        ring = KeyRing({"k1": os.urandom(32)}, "k1")
        reports, tokens, vault = (
            CountingReports(pool),
            RunTokens(dict(ring.keys), ring.active_id),
            Vault(pool, ring_providers(ring)),
        )
        vault.ensure_package("bench", "pkg", "pkg-uid")
        token = tokens.issue("run-uid")
        RunStore(pool).record_start(
            NewRun("run-uid", "bench", "run", "pkg", "pkg-uid", 1, 1, token_digest(token), ["a.py"])
        )
        # A limiter that never trips: this measures the cost of refusing, not of the 429.
        authenticator = RunTokenAuthenticator(tokens, reports, TokenBuckets(burst=10**9))
        api = RunnerApi(authenticator, reports, vault, EventStore(pool))
        return asyncio.run(_flood(api, reports, "run-uid", token, requests))


def summary(r: dict[str, Any]) -> str:
    return (
        f"runner API: a made-up token costs {r['made_up_cpu_us_per_request']:.0f} us CPU "
        f"({r['made_up_over_valid_cpu']:.2f} of a real request's {r['valid_cpu_us_per_request']:.0f} us), "
        f"{r['database_queries_for_made_up_tokens']} database queries for {r['requests_each']}; "
        f"p50 {r['made_up_p50_ms']:.2f} vs {r['valid_p50_ms']:.2f} ms; an 8 MiB nested flood: "
        f"HTTP {r['nested_flood_status']}, RSS +{r['nested_flood_rss_growth_mib']:.0f} MiB "
        f"(parsing it, as an unbounded API would: +{r['baseline_parse_rss_growth_mib']:.0f} MiB); setting a 1 KiB"
        f" output p50 {r['output_put_p50_ms']:.2f} ms against {r['state_put_p50_ms']:.2f} ms for a state key"
        f" (ratio {r['output_over_state_put']:.2f})"
    )


def main() -> None:
    report(measure(), summary)


if __name__ == "__main__":
    main()
