"""`make bench`: Ferris against the bare API server, in one run on the local cluster.

Prints a table and writes JSON (bench/results/<time>.json) for comparison between commits.
Not part of the test suite: figures are measured here, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
from kubernetes import client

from bench import (
    admission,
    console_load,
    events,
    failover,
    key_providers,
    notifications,
    package_content,
    reports,
    runner_api,
    runner_overhead,
    schedules,
    scopes,
    server_history,
    unrelated,
    year,
)
from bench.cluster import (
    ApiRequests,
    Cordon,
    CpuSplit,
    ProcessMeter,
    namespace,
    package,
    rss_at_rest_mib,
    settle,
    wait_ready,
)
from bench.stats import ratio
from ferris_devcluster import interrupts
from ferris_devcluster.kube import client_for
from ferris_devcluster.stack import FerrisStack

RESULTS = Path(__file__).resolve().parent / "results"


def _marked(cpu: CpuSplit, requests: ApiRequests, cordon: Cordon) -> None:
    """Every Job exists: the CPU split and the request count end there, and the node may run
    the pods."""
    cpu.mark()
    requests.mark()
    cordon.release()


def admission_pair(stack: FerrisStack, api: client.ApiClient, n: int, concurrency: int, tag: str) -> dict[str, Any]:
    """N items created at once, raw then Ferris. The node stays cordoned until every Job exists
    (admission is measured alone), then runs them all (time to done includes that wait)."""
    raw_ns = namespace(api, f"bench-raw-{tag}")
    settled = {"raw": settle(stack)}
    with Cordon(stack) as cordon, CpuSplit(stack) as raw_cpu, ApiRequests(stack) as raw_requests:
        raw_timeline = admission.raw_batch(
            api, raw_ns, admission.Batch(n, concurrency, jobs_created=lambda: _marked(raw_cpu, raw_requests, cordon))
        )
    raw = raw_timeline.summary(n, objects_per_item=2)
    ferris_ns = namespace(api, f"bench-ferris-{tag}")
    package(api, ferris_ns, "trivial")
    wait_ready(api, ferris_ns, "trivial")
    assert stack.operator is not None
    settled["ferris"] = settle(stack)
    with (
        ProcessMeter(stack.operator.pid) as meter,
        Cordon(stack) as cordon,
        CpuSplit(stack) as ferris_cpu,
        ApiRequests(stack) as ferris_requests,
    ):
        timeline, failed = admission.ferris_batch(
            api,
            ferris_ns,
            "trivial",
            admission.Batch(n, concurrency, jobs_created=lambda: _marked(ferris_cpu, ferris_requests, cordon)),
        )
    # FerrisRun, run-key Secret, bundle ConfigMap, Job: four objects per run.
    ferris = timeline.summary(n, objects_per_item=4)
    ferris.update(
        {
            "failed": len(failed),
            "operator_cpu_s": meter.cpu,
            "operator_peak_rss_mib": meter.peak / 2**20,
            "operator_cpu_s_per_1000_runs": meter.cpu / n * 1000,
        }
    )
    return {
        "raw": raw,
        "ferris": ferris,
        "cpu_s_while_writing": {"raw": raw_cpu.cpu, "ferris": ferris_cpu.cpu},
        "api_requests_while_writing": {"raw": raw_requests.counts, "ferris": ferris_requests.counts},
        "seconds_waited_for_a_quiet_stack": settled,
        "ratios": {
            "time_to_all_jobs": ratio(ferris["time_to_all_jobs_s"], raw["time_to_all_jobs_s"]),
            "time_to_all_done": ratio(ferris["time_to_all_done_s"], raw["time_to_all_done_s"]),
            "objects_written_per_s": ratio(ferris["objects_written_per_s"], raw["objects_written_per_s"]),
        },
    }


def paced_latency(
    stack: FerrisStack, api: client.ApiClient, rate: float, seconds: float, tag: str = ""
) -> dict[str, Any]:
    """Runs created at ``rate`` per second: create -> Job latency of Ferris, and of a Secret and
    a Job created directly, with the node cordoned (admission alone) and, for Ferris, again with
    the pods running beside it."""
    n = int(rate * seconds)
    figures: dict[str, Any] = {"rate_per_s": rate, "n": n}
    raw_ns = namespace(api, f"bench-paced-raw{tag}")
    settle(stack)
    with Cordon(stack) as cordon:
        raw = admission.raw_batch(api, raw_ns, admission.Batch(n, 8, rate=rate, jobs_created=cordon.release))
    figures["raw"] = raw.summary(n, objects_per_item=2)
    for label, cordoned in (("ferris", True), ("ferris_with_pods", False)):
        ns = namespace(api, f"bench-paced-{label.replace('_', '-')}{tag}")
        package(api, ns, "paced")
        wait_ready(api, ns, "paced")
        settle(stack)
        with Cordon(stack, active=cordoned) as cordon:
            timeline, failed = admission.ferris_batch(
                api, ns, "paced", admission.Batch(n, 8, rate=rate, jobs_created=cordon.release)
            )
        figures[label] = {**timeline.summary(n, objects_per_item=4), "failed": len(failed)}
    return figures


def seed_history(stack: FerrisStack, api: client.ApiClient, packages: int, runs: int) -> dict[str, Any]:
    started = time.monotonic()
    ns = namespace(api, "bench-history")
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: package(api, ns, f"pkg-{i:05d}"), range(packages)))
    created = time.monotonic() - started
    wait_ready(api, ns, f"pkg-{packages - 1:05d}", timeout=1800)
    with psycopg.connect(stack.postgres.url) as conn:
        conn.execute(
            "INSERT INTO runs (uid, namespace, name, package_name, package_uid, package_generation, secrets_version,"
            " phase, reason, message, created_at, started_at, finished_at)"
            " SELECT 'hist-' || g, 'bench-history', 'run-' || g, 'pkg-' || lpad((g %% %s)::text, 5, '0'), NULL, 1, 0,"
            " 'Succeeded', 'Succeeded', 'all 1 steps succeeded', now() - interval '1 day', now() - interval '1 day',"
            " now() - interval '1 day' FROM generate_series(1, %s) AS g",
            (packages, runs),
        )
        conn.execute(
            "INSERT INTO steps (run_uid, idx, name, phase, exit_code, started_at, finished_at, output)"
            " SELECT 'hist-' || g, 0, 'noop.py', 'Succeeded', 0, now(), now(), 'ok' || chr(10)"
            " FROM generate_series(1, %s) AS g",
            (runs,),
        )
    return {
        "packages": packages,
        "runs": runs,
        "seconds_to_create_packages": created,
        "seconds_until_all_ready": time.monotonic() - started,
    }


def table(results: dict[str, Any]) -> str:
    lines = [
        "",
        "Admission (FerrisRun vs Secret+Job created directly; same client concurrency; node cordoned until"
        " every Job exists)",
        f"{'N':>6} {'raw jobs s':>10} {'ferris jobs s':>13} {'ratio':>6} {'raw done s':>10} "
        f"{'ferris done s':>13} {'ratio':>6} {'runs/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'obj/s ratio':>11}",
    ]
    for row in results["admission"]:
        raw, fer, rat = row["raw"], row["ferris"], row["ratios"]
        lines.append(
            f"{fer['n']:>6} {raw['time_to_all_jobs_s']:>10.2f} {fer['time_to_all_jobs_s']:>13.2f} "
            f"{rat['time_to_all_jobs']:>6.2f} {raw['time_to_all_done_s']:>10.2f} "
            f"{fer['time_to_all_done_s']:>13.2f} {rat['time_to_all_done']:>6.2f} {fer['items_per_s']:>7.1f} "
            f"{fer['create_to_job_p50_ms']:>7.0f} {fer['create_to_job_p99_ms']:>7.0f} "
            f"{rat['objects_written_per_s']:>11.2f}"
        )
    ratios_by_n: dict[int, list[float]] = {}
    for row in results["admission"]:
        ratios_by_n.setdefault(row["ferris"]["n"], []).append(row["ratios"]["objects_written_per_s"])
    for n, ratios in ratios_by_n.items():
        if len(ratios) > 1:
            lines.append(
                f"obj/s ratio at N={n} over {len(ratios)} pairs: median {statistics.median(ratios):.2f}, "
                f"range {min(ratios):.2f}-{max(ratios):.2f}"
            )
    if "scaling" in results:
        s = results["scaling"]
        lines.append(f"per-run cost N={s['large_n']} / N={s['small_n']}: {s['per_run_ratio']:.2f} (flat = 1.00)")
    for key, when in (("paced_fresh", "fresh stack"), ("paced", "after the admission stage's runs")):
        if key not in results:
            continue
        p = results[key]
        for label, title in (
            ("raw", "Secret+Job directly, node cordoned"),
            ("ferris", "Ferris, node cordoned"),
            ("ferris_with_pods", "Ferris, pods running beside it"),
        ):
            row = p[label]
            lines.append(
                f"at {p['rate_per_s']:.0f}/s, {when} ({title}): create->Job p50 {row['create_to_job_p50_ms']:.0f} ms, "
                f"p99 {row['create_to_job_p99_ms']:.0f} ms"
            )
    for row in results["admission"]:
        fer = row["ferris"]
        lines.append(
            f"operator at N={fer['n']}: {fer['operator_cpu_s_per_1000_runs']:.1f} CPU s per 1000 runs, "
            f"peak RSS {fer['operator_peak_rss_mib']:.0f} MiB, failed runs {fer['failed']}"
        )
        for side, split in (row.get("cpu_s_while_writing") or {}).items():
            busiest = sorted(split.items(), key=lambda item: -item[1])
            lines.append(f"  CPU s until every Job existed, {side}: " + ", ".join(f"{k} {v:.1f}" for k, v in busiest))
        for side, counts in (row.get("api_requests_while_writing") or {}).items():
            top = list(counts.items())[:10]
            lines.append(
                f"  API server per item until every Job existed, {side}: "
                + ", ".join(f"{k} {v / fer['n']:.2f}" for k, v in top)
            )
    if "history" in results:
        h = results["history"]
        lines.append(
            f"with {h['seed']['packages']} packages and {h['seed']['runs']} finished runs stored: operator "
            f"RSS at rest {h['rss_at_rest_mib']:.0f} MiB; admission N={h['admission']['ferris']['n']} "
            f"ratio to all done {h['admission']['ratios']['time_to_all_done']:.2f}, "
            f"p50 {h['admission']['ferris']['create_to_job_p50_ms']:.0f} ms"
        )
    r = results.get("runner")
    if r:
        lines.append(
            f"runner: start->first script line {r['runner_to_first_line_ms']:.0f} ms; python -c pass "
            f"{r['python_c_pass_ms']:.0f} ms; script run directly {r['direct_script_to_first_line_ms']:.0f} ms; "
            f"overhead over python -c pass {r['overhead_over_python_pass_ms']:.0f} ms"
        )
    if "schedules" in results:
        lines.append(schedules.summary(results["schedules"]))
    if "events" in results:
        lines.append(events.summary(results["events"]))
    if "unrelated" in results:
        lines.append(unrelated.summary(results["unrelated"]))
    if "runner_api" in results:
        lines.append(runner_api.summary(results["runner_api"]))
    if "scopes" in results:
        lines.append(scopes.summary(results["scopes"]))
    if "key_providers" in results:
        lines.append(key_providers.summary(results["key_providers"]))
    if "reports" in results:
        lines.append(reports.summary(results["reports"]))
    if "server_history" in results:
        lines.append(server_history.summary(results["server_history"]))
    if "console_load" in results:
        lines.append(console_load.summary(results["console_load"]))
    if "package_content" in results:
        lines.append(package_content.summary(results["package_content"]))
    if "notifications" in results:
        lines.append(notifications.summary(results["notifications"]))
    if "year" in results:
        lines.append(year.summary(results["year"]))
    if "failover" in results:
        lines.append(failover.summary(results["failover"]))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("--sizes", default="100,500,1000")
    parser.add_argument(
        "--repeats", type=int, default=1, help="admission pairs per size (one pair's ratio varies with the raw side)"
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--history-packages", type=int, default=10000)
    parser.add_argument("--history-runs", type=int, default=100000)
    parser.add_argument("--scheduled-packages", type=int, default=1000, help="packages due on one minute")
    parser.add_argument("--schedules-at-rest", type=int, default=10000, help="packages given a schedule")
    parser.add_argument("--events", type=int, default=1000, help="events sent in the events stage")
    parser.add_argument("--unrelated-pods", type=int, default=10000, help="pods that are not Ferris's, beside it")
    parser.add_argument("--unrelated-jobs", type=int, default=1000, help="Jobs that are not Ferris's, beside it")
    parser.add_argument("--year-packages", type=int, default=1000, help="packages run daily for the year stage")
    parser.add_argument("--failover-runs", type=int, default=500, help="runs in each burst of the failover stage")
    parser.add_argument(
        "--stages",
        default="components,year,failover,admission,paced,schedules,events,unrelated,content,history",
        help="comma-separated: components (runner, runner API, scopes, key providers, reports, server"
        " history, console), year (PostgreSQL after a year, with and without retention), failover (PostgreSQL's"
        " standby promoted mid-burst, beside the same burst without), admission, paced,"
        " schedules, events, unrelated, content (etcd bytes a run costs, shared package content), history",
    )
    args = parser.parse_args()
    interrupts.install()
    stages = set(args.stages.split(","))
    sizes = [int(s) for s in args.sizes.split(",")] if "admission" in stages else []
    results: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "admission": []}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    results["commit"] = commit
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{time.strftime('%Y%m%dT%H%M%S')}-{commit or 'dirty'}.json"

    def save(stage: str) -> None:
        """Write what is measured so far, so that a long run that is stopped still reports."""
        out.write_text(json.dumps(results, indent=2))
        print(f"[{stage} done]\n{table(results)}", flush=True)

    if "components" in stages:  # each on its own database or stack, before the shared stack
        results["runner"] = runner_overhead.measure()
        results["runner_api"] = runner_api.measure()
        results["scopes"] = scopes.measure()
        results["key_providers"] = key_providers.measure()
        results["reports"] = reports.measure()
        results["notifications"] = notifications.measure()
        results["server_history"] = server_history.measure()
        results["console_load"] = console_load.measure()
    if "year" in stages:  # a database of its own
        results["year"] = year.measure(args.year_packages)
        save("year")
    if "failover" in stages:  # two stacks of its own
        results["failover"] = failover.measure(args.failover_runs)
        save("failover")
    on_a_stack = bool(sizes) or bool(stages & {"paced", "schedules", "events", "unrelated", "content", "history"})
    with contextlib.ExitStack() as exits:  # no stack for database-only stages
        stack: Any = exits.enter_context(FerrisStack()) if on_a_stack else None
        api: Any = client_for(stack.kubeconfig).api if stack else None
        if api is not None:
            api.configuration.connection_pool_maxsize = 32
        if "paced" in stages:  # on a fresh stack, then again after the admission stage's runs
            results["paced_fresh"] = paced_latency(stack, api, args.rate, seconds=10, tag="-fresh")
            save("paced on a fresh stack")
        for n in sizes:
            for repeat in range(1, args.repeats + 1):
                tag = str(n) if repeat == 1 else f"{n}-{repeat}"
                results["admission"].append(admission_pair(stack, api, n, args.concurrency, tag))
                save(f"admission N={n} ({repeat} of {args.repeats})")
        by_n = {row["ferris"]["n"]: row["ferris"] for row in results["admission"]}
        if len(sizes) > 1:
            small, large = min(sizes), max(sizes)
            results["scaling"] = {
                "small_n": small,
                "large_n": large,
                "per_run_ratio": by_n[large]["per_item_ms"] / by_n[small]["per_item_ms"],
            }
        if "paced" in stages:
            results["paced"] = paced_latency(stack, api, args.rate, seconds=10)
            save("paced")
        if "schedules" in stages:
            results["schedules"] = schedules.measure(
                stack, api, args.scheduled_packages, args.schedules_at_rest, args.concurrency
            )
            save("schedules")
        if "events" in stages:
            results["events"] = events.measure(stack, api, args.events, args.concurrency)
            save("events")
        if "unrelated" in stages:
            results["unrelated"] = unrelated.measure(
                stack, api, args.unrelated_pods, args.unrelated_jobs, concurrency=args.concurrency
            )
            save("unrelated")
        if "content" in stages:
            results["package_content"] = package_content.measure(stack)
            save("package content")
        if "history" in stages:
            seed = seed_history(stack, api, args.history_packages, args.history_runs)
            results["history"] = {
                "seed": seed,
                "rss_at_rest_mib": rss_at_rest_mib(stack),
                "admission": admission_pair(stack, api, min(sizes, default=100), args.concurrency, "history"),
            }
    save("all")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
