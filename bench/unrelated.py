"""Ferris beside a big cluster: 10,000 pods and 1,000 Jobs that are not Ferris's, in other
namespaces, pending for a scheduler that does not exist (so they stay pending while the runs of
the burst execute). The operator's CPU in a quiet minute and through a 100-run burst, measured
before the unrelated objects exist and again beside them, in the same run: the ratio shows what
they cost it (its watches of Jobs and pods are label-selected, so the goal is nothing)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kubernetes import client

from bench import admission
from bench.cluster import ProcessMeter, namespace, package, wait_ready
from bench.stats import ratio
from ferris_devcluster.stack import FerrisStack

NOWHERE = "bench-no-such-scheduler"  # pods for it stay Pending; the process node binds none
SPREAD = 10  # namespaces the unrelated objects are spread over


def _pod_spec() -> dict[str, Any]:
    return {
        "schedulerName": NOWHERE,
        "restartPolicy": "Never",
        "containers": [{"name": "main", "image": "registry.invalid/unrelated:1", "command": ["sleep", "3600"]}],
    }


def _unrelated(api: client.ApiClient, pods: int, jobs: int, concurrency: int) -> list[str]:
    core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
    spaces = [namespace(api, f"bench-unrelated-{i}") for i in range(SPREAD)]

    def pod(i: int) -> None:
        body: Any = {"metadata": {"name": f"pod-{i:05d}", "labels": {"app": "unrelated"}}, "spec": _pod_spec()}
        core.create_namespaced_pod(spaces[i % SPREAD], body, _preload_content=False)

    def job(i: int) -> None:
        template = {"metadata": {"labels": {"app": "unrelated"}}, "spec": _pod_spec()}
        body: Any = {"metadata": {"name": f"job-{i:05d}"}, "spec": {"backoffLimit": 0, "template": template}}
        batch.create_namespaced_job(spaces[i % SPREAD], body, _preload_content=False)

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(pod, range(pods)))
        list(pool.map(job, range(jobs)))
    deadline = time.monotonic() + 600
    while _count(core) < pods + jobs and time.monotonic() < deadline:  # the Job controller makes their pods
        time.sleep(2)
    return spaces


def _count(core: client.CoreV1Api) -> int:
    """The unrelated pods, counted by the API server (one item listed, the rest counted)."""
    page: Any = core.list_pod_for_all_namespaces(label_selector="app=unrelated", limit=1)
    return len(page.items) + int(page.metadata.remaining_item_count or 0)


def _quiet_and_burst(
    stack: FerrisStack, api: client.ApiClient, tag: str, runs: int, quiet: float, concurrency: int
) -> dict[str, Any]:
    assert stack.operator is not None
    with ProcessMeter(stack.operator.pid) as meter:
        time.sleep(quiet)
    ns = namespace(api, f"bench-beside-{tag}")
    package(api, ns, "beside")
    wait_ready(api, ns, "beside")
    with ProcessMeter(stack.operator.pid) as burst:
        timeline, failed = admission.ferris_batch(api, ns, "beside", admission.Batch(runs, concurrency))
    return {
        "quiet_seconds": quiet,
        "quiet_cpu_s": meter.cpu,
        "burst_runs": runs,
        "burst_cpu_s": burst.cpu,
        "burst_failed": len(failed),
        "burst_peak_rss_mib": burst.peak / 2**20,
        **{k: v for k, v in timeline.summary(runs, objects_per_item=4).items() if k.startswith("time_to")},
    }


def measure(
    stack: FerrisStack,
    api: client.ApiClient,
    pods: int = 10000,
    jobs: int = 1000,
    runs: int = 100,
    quiet: float = 60.0,
    concurrency: int = 16,
) -> dict[str, Any]:
    alone = _quiet_and_burst(stack, api, "alone", runs, quiet, concurrency)
    started = time.monotonic()
    spaces = _unrelated(api, pods, jobs, concurrency)
    created = time.monotonic() - started
    time.sleep(10)  # the operator's watches and the controllers settle
    beside = _quiet_and_burst(stack, api, "beside", runs, quiet, concurrency)
    for ns in spaces:  # the namespace controller removes them while later stages run
        client.CoreV1Api(api).delete_namespace(ns)
    return {
        "unrelated_pods": pods + jobs,
        "unrelated_jobs": jobs,
        "seconds_to_create": created,
        "alone": alone,
        "beside": beside,
        "ratios": {
            "quiet_cpu": ratio(beside["quiet_cpu_s"], alone["quiet_cpu_s"]),
            "burst_cpu": ratio(beside["burst_cpu_s"], alone["burst_cpu_s"]),
            "burst_time_to_all_done": ratio(beside["time_to_all_done_s"], alone["time_to_all_done_s"]),
        },
    }


def summary(result: dict[str, Any]) -> str:
    alone, beside, ratios = result["alone"], result["beside"], result["ratios"]
    quiet = (
        f"operator CPU in a quiet {beside['quiet_seconds']:.0f} s: {beside['quiet_cpu_s']:.2f} s"
        f" (alone {alone['quiet_cpu_s']:.2f} s, ratio {ratios['quiet_cpu']:.2f})"
    )
    burst = (
        f"{beside['burst_runs']}-run burst: {beside['burst_cpu_s']:.2f} CPU s (alone {alone['burst_cpu_s']:.2f} s,"
        f" ratio {ratios['burst_cpu']:.2f}), all done in {beside['time_to_all_done_s']:.1f} s"
        f" (ratio {ratios['burst_time_to_all_done']:.2f})"
    )
    return f"beside {result['unrelated_pods']} unrelated pods and {result['unrelated_jobs']} Jobs: {quiet}; {burst}"
