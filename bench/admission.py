"""Admission: N FerrisRuns created at once against N Secrets + Jobs created directly, on the
same cluster, at the same client concurrency, each run to completion."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, cast

from kubernetes import client

from bench.stats import percentile
from ferris_devcluster.kube import RawWatch

RUNNER_COMMAND = ["python3", "-c", "pass"]


@dataclass
class Timeline:
    """Wall-clock marks of one batch, seconds since its start."""

    created: dict[str, float] = field(default_factory=dict)
    job_seen: dict[str, float] = field(default_factory=dict)
    done: dict[str, float] = field(default_factory=dict)

    def summary(self, n: int, objects_per_item: int) -> dict[str, float]:
        latencies = [self.job_seen[k] - self.created[k] for k in self.created if k in self.job_seen]
        all_jobs = max(self.job_seen.values()) if len(self.job_seen) >= n else float("nan")
        all_done = max(self.done.values()) if len(self.done) >= n else float("nan")
        return {
            "n": n,
            "time_to_all_jobs_s": all_jobs,
            "time_to_all_done_s": all_done,
            "items_per_s": n / all_done,
            "objects_written_per_s": n * objects_per_item / all_jobs,
            "create_to_job_p50_ms": percentile(latencies, 50) * 1000,
            "create_to_job_p99_ms": percentile(latencies, 99) * 1000,
            "per_item_ms": all_done / n * 1000,
        }


class ResumingWatcher(threading.Thread):
    """Hands every object of one namespaced collection to ``handle``: a LIST, then watches that
    each resume from the last resourceVersion seen. (A watch started again without one sends
    every object of the namespace again: work, on the API server and in this client, that grows
    with how long a batch takes and would be charged to the slower side.)"""

    def __init__(self, lister: Callable[..., Any], *args: Any) -> None:
        super().__init__(daemon=True)
        self.lister, self.args = lister, args
        self.stop = threading.Event()
        self.resource_version: str | None = None

    def handle(self, obj: dict[str, Any]) -> None:
        raise NotImplementedError

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                if self.resource_version is None:
                    self._list()
                self._watch()
            except client.exceptions.ApiException as exc:
                if exc.status == 410:  # too old: list again
                    self.resource_version = None
                time.sleep(0.2)

    def _list(self) -> None:
        listing = json.loads(self.lister(*self.args, _preload_content=False).data)
        for obj in listing["items"]:
            self.handle(obj)
        self.resource_version = listing["metadata"]["resourceVersion"]

    def _watch(self) -> None:
        stream = RawWatch().stream(
            self.lister,
            *self.args,
            resource_version=self.resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=5,
        )
        for event in stream:
            obj = event["object"]
            self.resource_version = obj["metadata"]["resourceVersion"]
            if event["type"] != "BOOKMARK":
                self.handle(obj)
            if self.stop.is_set():
                break


class JobWatcher(ResumingWatcher):
    """Records when each Job of a namespace first appears and when it completes."""

    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        key: Callable[[dict[str, Any]], str],
        start: float,
        timeline: Timeline,
        track_completion: bool,
    ) -> None:
        super().__init__(client.BatchV1Api(api).list_namespaced_job, namespace)
        self.key, self.start_time, self.timeline = key, start, timeline
        self.track_completion = track_completion

    def handle(self, job: dict[str, Any]) -> None:
        name = self.key(job)
        now = time.monotonic() - self.start_time
        self.timeline.job_seen.setdefault(name, now)
        if self.track_completion:
            for cond in (job.get("status") or {}).get("conditions") or []:
                if cond["type"] == "Complete" and cond["status"] == "True":
                    self.timeline.done.setdefault(name, now)


class RunWatcher(ResumingWatcher):
    """Records when each FerrisRun of a namespace is first seen (``seen``) and when it reaches
    a terminal phase (the timeline's ``done``)."""

    def __init__(self, api: client.ApiClient, namespace: str, start: float, timeline: Timeline) -> None:
        custom = client.CustomObjectsApi(api)
        super().__init__(custom.list_namespaced_custom_object, "ferris.io", "v1alpha1", namespace, "ferrisruns")
        self.start_time, self.timeline = start, timeline
        self.failed: set[str] = set()
        self.seen: dict[str, float] = {}

    def handle(self, run: dict[str, Any]) -> None:
        name = run["metadata"]["name"]
        self.seen.setdefault(name, time.monotonic() - self.start_time)
        phase = (run.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed", "Cancelled"):
            self.timeline.done.setdefault(name, time.monotonic() - self.start_time)
            if phase != "Succeeded":
                self.failed.add(name)


def _wait(marks: dict[str, float], n: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(marks) < n and time.monotonic() < deadline:
        time.sleep(0.2)


@dataclass(frozen=True)
class Batch:
    """N items created by ``concurrency`` clients, at ``rate`` per second or all at once.
    ``jobs_created`` is called once every item's Job exists (the benchmark uncordons the node
    there when it measures admission alone)."""

    n: int
    concurrency: int
    rate: float | None = None
    jobs_created: Callable[[], None] | None = None
    timeout: float = 1800

    def drive(self, timeline: Timeline, start: float, create: Callable[[int], None]) -> None:
        def paced(i: int) -> None:
            if self.rate:
                time.sleep(max(0.0, start + i / self.rate - time.monotonic()))
            create(i)

        with ThreadPoolExecutor(self.concurrency) as pool:
            list(pool.map(paced, range(self.n)))
        if self.jobs_created:
            _wait(timeline.job_seen, self.n, self.timeout)
            self.jobs_created()
        _wait(timeline.done, self.n, self.timeout)


def ferris_batch(api: client.ApiClient, namespace: str, package: str, batch: Batch) -> tuple[Timeline, set[str]]:
    custom = client.CustomObjectsApi(api)
    timeline = Timeline()
    start = time.monotonic()
    jobs = JobWatcher(api, namespace, lambda job: job["metadata"]["labels"]["ferris.io/run"], start, timeline, False)
    runs = RunWatcher(api, namespace, start, timeline)
    jobs.start()
    runs.start()
    time.sleep(1)  # both watches established
    start = time.monotonic()
    jobs.start_time = runs.start_time = start

    def create(i: int) -> None:
        name = f"{package}-{i:05d}"
        body = {
            "apiVersion": "ferris.io/v1alpha1",
            "kind": "FerrisRun",
            "metadata": {"name": name},
            "spec": {"packageRef": {"name": package}},
        }
        t0 = time.monotonic() - start
        custom.create_namespaced_custom_object("ferris.io", "v1alpha1", namespace, "ferrisruns", body)
        timeline.created[name] = t0

    batch.drive(timeline, start, create)
    jobs.stop.set()
    runs.stop.set()
    return timeline, runs.failed


def raw_batch(api: client.ApiClient, namespace: str, batch: Batch) -> Timeline:
    core, batch_api = client.CoreV1Api(api), client.BatchV1Api(api)
    timeline = Timeline()
    start = time.monotonic()
    jobs = JobWatcher(api, namespace, lambda job: job["metadata"]["name"], start, timeline, True)
    jobs.start()
    time.sleep(1)
    start = time.monotonic()
    jobs.start_time = start

    def create(i: int) -> None:
        name = f"raw-{i:05d}"
        t0 = time.monotonic() - start
        core.create_namespaced_secret(
            namespace, client.V1Secret(metadata=client.V1ObjectMeta(name=name), data={"k": "dmFsdWU="})
        )
        batch_api.create_namespaced_job(
            namespace,
            cast(
                Any,
                {
                    "metadata": {"name": name},
                    "spec": {
                        "backoffLimit": 0,
                        "template": {
                            "spec": {
                                "restartPolicy": "Never",
                                "automountServiceAccountToken": False,
                                "containers": [{"name": "main", "image": "python:3.11", "command": RUNNER_COMMAND}],
                            }
                        },
                    },
                },
            ),
        )
        timeline.created[name] = t0

    batch.drive(timeline, start, create)
    jobs.stop.set()
    return timeline
