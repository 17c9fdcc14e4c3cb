"""A simulated year of a 1,000-package platform in PostgreSQL, and what the retention leaves.

Each package runs once a day for 365 days (two steps with about 1 KiB of output each, the
run's end event, one audited secret write in ten runs), written straight into the tables with
COPY: the stage measures storage, not how fast Ferris writes. Then the retention passes run as
the operator runs them (store/retention.py, events and audit expiry) until nothing is left to
remove, and the database is compacted (VACUUM FULL) to show what a database that had the
retention all year holds. The baseline is the same database before the retention, measured in
the same run. `python -m bench.year`; also `python -m bench --stages year`."""

from __future__ import annotations

import datetime
import os
import time
import uuid
from typing import Any

from bench.database import migrated_database
from bench.stats import ratio
from ferris_operator.runs.retention import HistoryRetention
from ferris_operator.settings import Settings
from ferris_operator.store.events import EventStore
from ferris_operator.store.retention import RetentionStore
from ferris_operator.store.scopes import ScopeStore

NAMESPACES = 20


def _mib(pool: Any) -> float:
    with pool.connection() as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return int(row[0]) / 2**20


def _output(seed: int) -> str:
    """About 1 KiB of log lines, as varied as a script's output (compresses like one)."""
    lines = [f"{i:03d} processed batch {seed}-{i} in {seed % 997 + i} ms id={os.urandom(8).hex()}" for i in range(16)]
    return "\n".join(lines)


def _seed(pool: Any, packages: int, days: int, now: datetime.datetime) -> dict[str, int]:
    runs = steps = events = writes = 0
    with pool.connection() as conn:
        for day in range(days, 0, -1):
            ended = now - datetime.timedelta(days=day)
            with (
                conn.cursor() as cur,
                cur.copy(
                    "COPY runs (uid, namespace, name, package_name, package_uid, phase, reason, created_at,"
                    " started_at, finished_at, published_phase, output_bytes) FROM STDIN"
                ) as copy,
            ):
                day_runs = []
                for p in range(packages):
                    uid = uuid.uuid4().hex
                    namespace, package = f"team-{p % NAMESPACES:02d}", f"pkg-{p:04d}"
                    at = ended + datetime.timedelta(seconds=p)
                    day_runs.append((uid, namespace, package, at))
                    copy.write_row(
                        (uid, namespace, f"{package}-{day}", package, f"puid-{p}", "Succeeded", "Succeeded",
                         at, at, at, "Succeeded", 2048)
                    )  # fmt: skip
            with (
                conn.cursor() as cur,
                cur.copy(
                    "COPY steps (run_uid, idx, name, phase, exit_code, started_at, finished_at, output) FROM STDIN"
                ) as copy,
            ):
                for n, (uid, _, _, at) in enumerate(day_runs):
                    for idx in (0, 1):
                        copy.write_row((uid, idx, f"step{idx}.py", "Succeeded", 0, at, at, _output(n + idx)))
            with (
                conn.cursor() as cur,
                cur.copy(
                    "COPY events (namespace, id, source, type, data, sent_by, received_at, routed_at, outcome)"
                    " FROM STDIN"
                ) as copy,
            ):
                for uid, namespace, package, at in day_runs:
                    data = f'{{"package": "{package}", "phase": "Succeeded", "run": "{uid}"}}'
                    copy.write_row(
                        (namespace, uid, f"/apis/ferris.io/namespaces/{namespace}/ferrisruns", "run.ended", data,
                         "operator", at, at, '{"runs": []}')
                    )  # fmt: skip
            with (
                conn.cursor() as cur,
                cur.copy(
                    "COPY secret_writes (at, scope, name, version, outcome, message, run_uid, run_namespace,"
                    " run_name, package_name, announced_at) FROM STDIN"
                ) as copy,
            ):
                for uid, namespace, package, at in day_runs[::10]:
                    copy.write_row((at, "project", "TOKEN", 1, "written", "", uid, namespace, uid, package, at))
            conn.commit()
            runs += len(day_runs)
            steps += 2 * len(day_runs)
            events += len(day_runs)
            writes += len(day_runs[::10])
    return {"runs": runs, "steps": steps, "events": events, "secret_writes": writes}


def _vacuum_full(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM FULL")


def measure(packages: int = 1000, days: int = 365) -> dict[str, Any]:
    settings = Settings(database_url="postgresql://unused", master_key_dir=None)
    with migrated_database() as (url, pool):
        now = datetime.datetime.now(datetime.UTC)
        start = time.perf_counter()
        seeded = _seed(pool, packages, days, now)
        seed_s = time.perf_counter() - start
        _vacuum_full(url)
        year_mib = _mib(pool)
        retention = HistoryRetention(
            RetentionStore(pool), settings.history_retention_days, settings.history_output_bytes
        )
        passes, removed, slowest = 0, 0, 0.0
        start = time.perf_counter()
        while True:
            began = time.perf_counter()
            EventStore(pool).expire(now - datetime.timedelta(days=settings.events_retention_days))
            ScopeStore(pool).expire_writes(now - datetime.timedelta(days=settings.audit_retention_days))
            gone = retention.pass_once(now).runs_removed
            slowest = max(slowest, time.perf_counter() - began)
            passes += 1
            removed += gone
            if gone == 0:
                break
        retention_s = time.perf_counter() - start
        _vacuum_full(url)
        kept_mib = _mib(pool)
        with pool.connection() as conn:
            left = conn.execute("SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM events)").fetchone()
    return {
        "packages": packages,
        "days": days,
        **{f"seeded_{k}": v for k, v in seeded.items()},
        "seed_s": seed_s,
        "year_without_retention_mib": year_mib,
        "retention_days": settings.history_retention_days,
        "retention_passes": passes,
        "retention_slowest_pass_s": slowest,
        "retention_s": retention_s,
        "runs_removed": removed,
        "runs_kept": int(left[0]) if left else 0,
        "events_kept": int(left[1]) if left else 0,
        "with_retention_mib": kept_mib,
        "with_over_without": ratio(kept_mib, year_mib),
    }


def summary(r: dict[str, Any]) -> str:
    return (
        f"a year of {r['packages']} packages run daily: {r['seeded_runs']} runs, {r['seeded_steps']} steps, "
        f"{r['seeded_events']} events, {r['seeded_secret_writes']} audited writes take "
        f"{r['year_without_retention_mib']:.0f} MiB without retention; the retention ({r['retention_days']:g} days of "
        f"runs) removed {r['runs_removed']} runs in {r['retention_passes']} passes ({r['retention_s']:.1f} s, slowest "
        f"{r['retention_slowest_pass_s']:.1f} s) and leaves {r['with_retention_mib']:.0f} MiB "
        f"({r['with_over_without']:.2f} of the baseline; {r['runs_kept']} runs, {r['events_kept']} events)"
    )


def main() -> None:
    print(summary(measure()))


if __name__ == "__main__":
    main()
