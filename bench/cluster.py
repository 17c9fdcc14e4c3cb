"""What the cluster stages of `make bench` share: a process's CPU and peak RSS over a window,
packages and namespaces made and waited for, and a cordoned node."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections import Counter
from typing import Any

import psutil
from kubernetes import client

from ferris_devcluster.stack import FerrisStack
from ferris_operator.settings import Intervals


class ProcessMeter:
    """CPU seconds and peak RSS of one process over a window."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> ProcessMeter:
        times = self.process.cpu_times()
        self.cpu0 = times.user + times.system
        self.peak = self.process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        times = self.process.cpu_times()
        self.cpu = times.user + times.system - self.cpu0


class CpuSplit:
    """CPU seconds of each process of the stack (the control plane, the node, the operator, the
    server, PostgreSQL with all its backends, and this benchmark's own client) from entering to
    ``mark()``: where the machine's two cores went while a batch's objects were written."""

    def __init__(self, stack: FerrisStack) -> None:
        pids = {proc.name: proc.pid for proc in stack.cluster.processes}
        pids.update(
            {"operator": stack.operator.pid if stack.operator else 0, "server": stack.server.pid if stack.server else 0}
        )
        self.processes = {name: psutil.Process(pid) for name, pid in pids.items() if pid}
        self.processes["benchmark client"] = psutil.Process()
        # PostgreSQL's work is done by the postmaster's children: counted as one tree
        self.trees = {"postgres": psutil.Process(stack.postgres.pid)} if stack.postgres.pid else {}
        self.cpu: dict[str, float] = {}

    def now(self) -> dict[str, float]:
        own = {name: sum(process.cpu_times()[:2]) for name, process in self.processes.items()}
        return {**own, **{name: _tree_cpu(root) for name, root in self.trees.items()}}

    def __enter__(self) -> CpuSplit:
        self._start = self.now()
        return self

    def mark(self) -> None:
        if not self.cpu:
            now = self.now()
            self.cpu = {name: round(now[name] - self._start[name], 2) for name in now}

    def __exit__(self, *exc: object) -> None:
        self.mark()


def _tree_cpu(root: psutil.Process) -> float:
    """CPU seconds of a process and all its descendants, those that ended included (their time
    is added to the parent's children times when it reaps them)."""
    total = sum(root.cpu_times()[:4])
    for child in root.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):  # ended between the listing and the reading
            total += sum(child.cpu_times()[:2])
    return total


_SAMPLE = re.compile(r"^(apiserver_request_total|apiserver_watch_events_total)\{(.*)\} (\S+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def settle(stack: FerrisStack, quiet_cpu_s: float = 0.3, window_s: float = 2.0, timeout_s: float = 180.0) -> float:
    """Wait until the stack is quiet (its processes use under ``quiet_cpu_s`` together in a
    ``window_s`` window), so that what one batch leaves behind (its runs' last writes, Events
    still being sent) is not charged to the next. Returns the seconds waited."""
    started = time.monotonic()
    split = CpuSplit(stack)
    del split.processes["benchmark client"]
    while time.monotonic() - started < timeout_s:
        before = split.now()
        time.sleep(window_s)
        after = split.now()
        if sum(after[name] - before[name] for name in after) < quiet_cpu_s:
            break
    return time.monotonic() - started


def rss_at_rest_mib(stack: FerrisStack, pid: int | None = None) -> float:
    """The operator's RSS (or that of process ``pid``) at rest: once the stack is quiet (what
    was just created is reconciled), then past a whole period of the operator's release of freed
    memory, so that the figure does not depend on where a fixed sleep lands beside that period."""
    settle(stack)
    time.sleep(Intervals().release_memory + 5)
    if pid is None:
        assert stack.operator is not None
        pid = stack.operator.pid
    return float(psutil.Process(pid).memory_info().rss) / 2**20


def _api_counters(stack: FerrisStack) -> Counter[str]:
    """The API server's request and watch-event counters, from its own /metrics, keyed by
    "VERB resource[/subresource]" and "watch-event Kind"."""
    counters: Counter[str] = Counter()
    for line in stack.kubectl("get", "--raw", "/metrics").stdout.splitlines():
        match = _SAMPLE.match(line)
        if not match:
            continue
        labels = dict(_LABEL.findall(match[2]))
        if match[1] == "apiserver_request_total":
            resource = labels.get("resource", "") + ("/" + labels["subresource"] if labels.get("subresource") else "")
            key = f"{labels.get('verb', '?')} {resource}"
        else:
            key = f"watch-event {labels.get('kind', labels.get('resource', '?'))}"
        counters[key] += int(float(match[3]))
    return counters


class ApiRequests:
    """What the API server served from entering to ``mark()``: requests by verb and resource,
    and events sent to watchers by kind (every watcher counts). Tells where its CPU went."""

    def __init__(self, stack: FerrisStack) -> None:
        self.stack = stack
        self.counts: dict[str, int] = {}

    def __enter__(self) -> ApiRequests:
        self._start = _api_counters(self.stack)
        return self

    def mark(self) -> None:
        if not self.counts:
            delta = _api_counters(self.stack) - self._start
            self.counts = dict(delta.most_common())

    def __exit__(self, *exc: object) -> None:
        self.mark()


def package(api: client.ApiClient, namespace: str, name: str, schedule: dict[str, Any] | None = None) -> None:
    """A one-script package that keeps its runs (and, with ``schedule``, runs on one)."""
    spec: dict[str, Any] = {
        "scripts": [{"name": "noop.py", "content": "pass"}],
        "successfulRunsHistoryLimit": 1000,
        "failedRunsHistoryLimit": 1000,
        "ttlSecondsAfterFinished": 86400,
    }
    if schedule:
        spec["schedule"] = schedule
    client.CustomObjectsApi(api).create_namespaced_custom_object(
        "ferris.io",
        "v1alpha1",
        namespace,
        "ferrispackages",
        {
            "apiVersion": "ferris.io/v1alpha1",
            "kind": "FerrisPackage",
            "metadata": {"name": name},
            "spec": spec,
        },
    )


def wait_ready(api: client.ApiClient, namespace: str, name: str, timeout: float = 300) -> None:
    custom = client.CustomObjectsApi(api)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        obj: Any = custom.get_namespaced_custom_object("ferris.io", "v1alpha1", namespace, "ferrispackages", name)
        if any(c["type"] == "Ready" and c["status"] == "True" for c in (obj.get("status") or {}).get("conditions", [])):
            return
        time.sleep(0.2)
    raise RuntimeError(f"package {namespace}/{name} not Ready")


def namespace(api: client.ApiClient, name: str) -> str:
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    while True:
        try:
            core.read_namespaced_service_account("default", name)
            return name
        except client.exceptions.ApiException:
            time.sleep(0.2)


class Cordon:
    """While inside, the node binds no new pod: Jobs are created but their pods wait. On this
    machine the pods share two cores with the operator; cordoning separates what the operator
    adds from what a saturated node costs. The pods run when every Job exists (``release``)."""

    def __init__(self, stack: FerrisStack, active: bool = True) -> None:
        self.stack = stack
        self.released = not active

    def __enter__(self) -> Cordon:
        if not self.released:
            self.stack.kubectl("cordon", self.stack.cluster.node_name)
        return self

    def release(self) -> None:
        if not self.released:
            self.stack.kubectl("uncordon", self.stack.cluster.node_name)
            self.released = True

    def __exit__(self, *exc: object) -> None:
        self.release()
