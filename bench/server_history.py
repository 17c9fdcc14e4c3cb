"""The server's history API over a large history, against a real PostgreSQL: with 100,000 runs
stored, one page of runs (the first, and one deep in the history) and one run with its steps,
through the server (HTTP, authorisation included) next to the same queries on PostgreSQL
directly; and the time to the first byte of a 4 MiB step output. `python -m bench.server_history`."""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import Callable
from typing import Any

import psycopg
from aiohttp.test_utils import TestClient, TestServer

from bench.database import migrated_database
from bench.stats import percentile, ratio, report
from ferris_operator.records import Access, Cursor, RunFilter, User
from ferris_operator.server.api import ServerApi
from ferris_operator.server.authz import Authorizer
from ferris_operator.server.identity import TokenCache
from ferris_operator.server.views import cursor_token
from ferris_operator.store.history import HistoryStore
from ferris_operator.store.runs import RUN_COLUMNS

NAMESPACE = "bench"
OUTPUT_BYTES = 4 * 1024 * 1024


def seed(url: str, runs: int) -> str:
    """``runs`` runs of 20 packages over a month, two steps each; returns the name of a run
    whose first step holds a 4 MiB output."""
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    with psycopg.connect(url) as conn:
        with conn.cursor().copy(
            "COPY runs (uid, namespace, name, package_name, package_uid, package_generation, secrets_version,"
            " phase, reason, message, created_at, started_at, finished_at) FROM STDIN"
        ) as copy:
            for i in range(runs):
                at = start + datetime.timedelta(seconds=26 * i)
                phase = "Failed" if i % 10 == 0 else "Succeeded"
                copy.write_row(
                    (
                        f"uid-{i:06d}",
                        NAMESPACE,
                        f"run-{i:06d}",
                        f"pkg-{i % 20}",
                        f"puid-{i % 20}",
                        1,
                        1,
                        phase,
                        "StepFailed" if phase == "Failed" else "Succeeded",
                        "",
                        at,
                        at,
                        at + datetime.timedelta(seconds=3),
                    )
                )
        with conn.cursor().copy(
            "COPY steps (run_uid, idx, name, phase, exit_code, started_at, finished_at, output) FROM STDIN"
        ) as copy:
            for i in range(runs):
                for idx in range(2):
                    copy.write_row((f"uid-{i:06d}", idx, f"s{idx}.py", "Succeeded", 0, start, start, "ok\n" * 20))
        conn.execute("UPDATE steps SET output = %s WHERE run_uid = 'uid-000007' AND idx = 0", ("x" * OUTPUT_BYTES,))
        conn.execute("ANALYZE runs; ANALYZE steps")
    return "run-000007"


def _direct(url: str, query: str, args: tuple[Any, ...], n: int) -> list[float]:
    times = []
    with psycopg.connect(url) as conn:
        for _ in range(n):
            started = time.perf_counter()
            conn.execute(query.encode(), args).fetchall()
            times.append((time.perf_counter() - started) * 1000)
    return times


async def _through_server(api: ServerApi, paths: dict[str, str], n: int, big: str) -> dict[str, Any]:
    timings: dict[str, list[float]] = {name: [] for name in paths}
    async with TestClient(TestServer(api.app())) as client:
        headers = {"Authorization": "Bearer bench"}
        for name, path in paths.items():
            for _ in range(n):
                started = time.perf_counter()
                response = await client.get(path, headers=headers)
                await response.read()
                assert response.status == 200, (path, response.status)
                timings[name].append((time.perf_counter() - started) * 1000)
        first_bytes, totals = [], []
        for _ in range(10):
            started = time.perf_counter()
            response = await client.get(big, headers=headers)
            await response.content.readany()
            first_bytes.append((time.perf_counter() - started) * 1000)
            await response.read()
            totals.append((time.perf_counter() - started) * 1000)
    return {"timings": timings, "first_byte_ms": first_bytes, "total_ms": totals}


def measure(runs: int = 100_000, n: int = 200) -> dict[str, Any]:
    allow: Callable[[User, Access, str, str], bool] = lambda *_: True  # noqa: E731 - RBAC is not measured here
    with migrated_database() as (url, pool):
        seeded = time.perf_counter()
        big = seed(url, runs)
        seeded = time.perf_counter() - seeded
        history = HistoryStore(pool)
        # A cursor deep in the history: the page that starts 90% of the way back.
        deep, _ = history.page(RunFilter(NAMESPACE), None, 1)
        far = history.page(RunFilter(NAMESPACE, until=deep[0].created_at - datetime.timedelta(days=27)), None, 1)
        deep_token = cursor_token(Cursor(far[0][0].created_at, far[0][0].uid))
        api = ServerApi(
            None,  # type: ignore[arg-type]  # the Kubernetes API is not on these routes
            history,
            TokenCache(lambda token: User("bench", groups=("system:authenticated",))),
            Authorizer(allow),
        )
        base = f"/api/v1/namespaces/{NAMESPACE}/runs"
        paths = {
            "first page (50)": f"{base}?limit=50",
            "deep page (50)": f"{base}?limit=50&continue={deep_token}",
            "one package's page (50)": f"{base}?limit=50&package=pkg-3",
            "one run with its steps": f"{base}/run-050000",
        }
        served = asyncio.run(_through_server(api, paths, n, f"{base}/{big}/steps/0/log"))
        page_sql = f"SELECT {RUN_COLUMNS} FROM runs WHERE namespace = %s ORDER BY created_at DESC, uid DESC LIMIT 51"  # noqa: S608
        direct = {
            "first page (50)": _direct(url, page_sql, (NAMESPACE,), n),
            "deep page (50)": _direct(
                url,
                f"SELECT {RUN_COLUMNS} FROM runs WHERE namespace = %s AND (created_at, uid) < (%s, %s)"  # noqa: S608
                " ORDER BY created_at DESC, uid DESC LIMIT 51",
                (NAMESPACE, far[0][0].created_at, far[0][0].uid),
                n,
            ),
            "one package's page (50)": _direct(
                url,
                f"SELECT {RUN_COLUMNS} FROM runs WHERE namespace = %s AND package_name = %s"  # noqa: S608
                " ORDER BY created_at DESC, uid DESC LIMIT 51",
                (NAMESPACE, "pkg-3"),
                n,
            ),
            "one run with its steps": _direct(
                url,
                "SELECT r.uid, s.idx, octet_length(s.output) FROM runs r JOIN steps s ON s.run_uid = r.uid"
                " WHERE r.namespace = %s AND r.name = %s",
                (NAMESPACE, "run-050000"),
                n,
            ),
        }
    rows = {}
    for name, times in served["timings"].items():
        rows[name] = {
            "server_p50_ms": percentile(times, 50),
            "server_p99_ms": percentile(times, 99),
            "direct_p50_ms": percentile(direct[name], 50),
            "direct_p99_ms": percentile(direct[name], 99),
            "p50_ratio": ratio(percentile(times, 50), percentile(direct[name], 50)),
        }
    return {
        "runs": runs,
        "requests_each": n,
        "seed_seconds": seeded,
        "queries": rows,
        "output_mib": OUTPUT_BYTES / 2**20,
        "output_first_byte_p50_ms": percentile(served["first_byte_ms"], 50),
        "output_total_p50_ms": percentile(served["total_ms"], 50),
    }


def summary(r: dict[str, Any]) -> str:
    lines = [f"server history over {r['runs']:,} runs ({r['requests_each']} requests each):"]
    for name, q in r["queries"].items():
        lines.append(
            f"  {name:26} server p50 {q['server_p50_ms']:6.2f} ms  p99 {q['server_p99_ms']:6.2f} ms   "
            f"PostgreSQL directly p50 {q['direct_p50_ms']:6.2f} ms  p99 {q['direct_p99_ms']:6.2f} ms   "
            f"ratio {q['p50_ratio']:.1f}"
        )
    lines.append(
        f"  a {r['output_mib']:.0f} MiB step output: first byte {r['output_first_byte_p50_ms']:.1f} ms, "
        f"all of it {r['output_total_p50_ms']:.1f} ms (p50 of 10)"
    )
    return "\n".join(lines)


def main() -> None:
    report(measure(), summary)


if __name__ == "__main__":
    main()
