"""Schedules on the local cluster: N packages due on the same minute, the time from that
minute to every FerrisRun and to every Job (node cordoned, as in the admission stage), against
creating the same N FerrisRuns directly in the same run; the operator's CPU per scheduled run;
the most runs made in one second, without and with ``jitterSeconds`` 30; and its RSS at rest
before and after M packages get a schedule."""

from __future__ import annotations

import collections
import datetime
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kubernetes import client

from bench import admission
from bench.cluster import Cordon, ProcessMeter, namespace, package, rss_at_rest_mib, wait_ready
from bench.stats import ratio
from ferris_devcluster.stack import FerrisStack


def due_minute(api: client.ApiClient, stack: FerrisStack, n: int, lead: float, jitter: int = 0) -> dict[str, Any]:
    """N packages due on one minute at least ``lead`` seconds away, the node cordoned."""
    ns = namespace(api, f"bench-sched-{n}-j{jitter}")
    due = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=lead)).replace(second=0, microsecond=0)
    due += datetime.timedelta(minutes=1)
    cron = f"{due.minute} {due.hour} * * *"
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: package(api, ns, f"s{i:05d}", {"crons": [cron], "jitterSeconds": jitter}), range(n)))
    wait_ready(api, ns, f"s{n - 1:05d}", timeout=900)
    wall_to_due = (due - datetime.datetime.now(datetime.UTC)).total_seconds()
    if wall_to_due < 2:
        raise RuntimeError(f"the {n} packages were not ready before their minute; raise the lead ({lead} s)")
    start = time.monotonic() + wall_to_due  # the due minute, on the monotonic clock
    timeline = admission.Timeline()
    runs = admission.RunWatcher(api, ns, start, timeline)
    jobs = admission.JobWatcher(api, ns, lambda job: job["metadata"]["labels"]["ferris.io/run"], start, timeline, False)
    assert stack.operator is not None
    with Cordon(stack):
        runs.start()
        jobs.start()
        time.sleep(max(0.0, start - time.monotonic() - 1))
        with ProcessMeter(stack.operator.pid) as meter:
            deadline = time.monotonic() + 600
            while (len(runs.seen) < n or len(timeline.job_seen) < n) and time.monotonic() < deadline:
                time.sleep(0.1)
        runs.stop.set()
        jobs.stop.set()
    per_second = collections.Counter(int(seen) for seen in runs.seen.values())
    return {
        "n": n,
        "jitter_s": jitter,
        "peak_runs_per_second": max(per_second.values(), default=0),
        "seconds_with_runs": len(per_second),
        "runs_made": len(runs.seen),
        "time_to_all_runs_s": max(runs.seen.values()) if len(runs.seen) >= n else float("nan"),
        "time_to_all_jobs_s": max(timeline.job_seen.values()) if len(timeline.job_seen) >= n else float("nan"),
        "operator_cpu_s": meter.cpu,
        "operator_cpu_ms_per_scheduled_run": meter.cpu / n * 1000,
    }


def schedules_at_rest(api: client.ApiClient, stack: FerrisStack, m: int) -> dict[str, Any]:
    """The operator's RSS at rest with M packages, then with each of them scheduled (yearly, so
    that nothing runs): what keeping M schedules costs."""
    ns = namespace(api, f"bench-sched-rest-{m}")
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: package(api, ns, f"r{i:05d}"), range(m)))
    wait_ready(api, ns, f"r{m - 1:05d}", timeout=1800)
    custom = client.CustomObjectsApi(api)

    def patch_all(patch: dict[str, Any]) -> None:
        with ThreadPoolExecutor(16) as pool:
            list(
                pool.map(
                    lambda i: custom.patch_namespaced_custom_object(
                        "ferris.io", "v1alpha1", ns, "ferrispackages", f"r{i:05d}", patch
                    ),
                    range(m),
                )
            )

    # Baseline: the same burst of updates and reconciles, with nothing scheduled.
    patch_all({"spec": {"description": "updated"}})
    before = rss_at_rest_mib(stack)
    patch_all({"spec": {"schedule": {"crons": ["0 0 1 1 *"]}}})
    deadline = time.monotonic() + 1800
    last = f"r{m - 1:05d}"
    while time.monotonic() < deadline:
        obj: Any = custom.get_namespaced_custom_object("ferris.io", "v1alpha1", ns, "ferrispackages", last)
        if (obj.get("status") or {}).get("schedule", {}).get("nextScheduleTime"):
            break
        time.sleep(0.5)
    after = rss_at_rest_mib(stack)
    return {"packages": m, "rss_at_rest_mib": before, "rss_at_rest_scheduled_mib": after, "ratio": ratio(after, before)}


def measure(stack: FerrisStack, api: client.ApiClient, n: int, m: int, concurrency: int) -> dict[str, Any]:
    scheduled = due_minute(api, stack, n, lead=90 + n / 10)
    jittered = due_minute(api, stack, n, lead=90 + n / 10, jitter=30)
    direct_ns = namespace(api, f"bench-sched-direct-{n}")
    package_name = "direct"
    package(api, direct_ns, package_name)
    wait_ready(api, direct_ns, package_name)
    with Cordon(stack) as cordon:
        timeline, _ = admission.ferris_batch(
            api, direct_ns, package_name, admission.Batch(n, concurrency, jobs_created=cordon.release)
        )
    direct = timeline.summary(n, objects_per_item=4)
    return {
        "scheduled": scheduled,
        "direct": {"time_to_all_jobs_s": direct["time_to_all_jobs_s"]},
        "ratio_time_to_all_jobs": ratio(scheduled["time_to_all_jobs_s"], direct["time_to_all_jobs_s"]),
        "jittered": jittered,
        "ratio_peak_runs_per_second": ratio(jittered["peak_runs_per_second"], scheduled["peak_runs_per_second"]),
        "at_rest": schedules_at_rest(api, stack, m),
    }


def summary(r: dict[str, Any]) -> str:
    s, d, rest = r["scheduled"], r["direct"], r["at_rest"]
    return (
        f"schedules: {s['n']} packages due on one minute: every FerrisRun {s['time_to_all_runs_s']:.1f} s and every "
        f"Job {s['time_to_all_jobs_s']:.1f} s after it (the same FerrisRuns created directly: every Job after "
        f"{d['time_to_all_jobs_s']:.1f} s; ratio {r['ratio_time_to_all_jobs']:.2f}); operator "
        f"{s['operator_cpu_ms_per_scheduled_run']:.1f} ms CPU per scheduled run; RSS at rest with {rest['packages']}"
        f" packages {rest['rss_at_rest_mib']:.0f} MiB, with each scheduled {rest['rss_at_rest_scheduled_mib']:.0f} MiB"
        f" (ratio {rest['ratio']:.2f}); with jitterSeconds 30 at most {r['jittered']['peak_runs_per_second']} runs"
        f" made in one second over {r['jittered']['seconds_with_runs']} seconds, without"
        f" {s['peak_runs_per_second']} (ratio {r['ratio_peak_runs_per_second']:.2f})"
    )
