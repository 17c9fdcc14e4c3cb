"""Events on the local cluster, the node cordoned (FerrisRuns are made, nothing runs): N events
sent through the Ferris server (``?wait=0``: stored and answered at once) by ``concurrency``
senders, one trigger matching each, against creating the same N FerrisRuns directly through
the API server in the same run (ratio of the time until every FerrisRun exists); the latency
from an event's acceptance (its answer) to its FerrisRun being seen, p50 and p99; and, one
event at a time, the round trip a sender waits for when it asks for the outcome (``?wait=10``);
and N orders joined (``spec.join``: a paid and a packed event each, 2N events for N runs)
against the N plain events' burst of the same run."""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kubernetes import client

from bench import admission
from bench.cluster import Cordon, namespace, package, wait_ready
from bench.stats import percentile, ratio
from ferris_devcluster.stack import FerrisStack
from ferris_operator.records import Event
from ferris_operator.triggers.match import run_name

TYPE = "bench.tick"
SOURCE = "/bench"


class Sender:
    """The cluster admin, by client certificate, one kept-alive HTTPS connection per thread."""

    def __init__(self, stack: FerrisStack) -> None:
        pki = stack.cluster.directory / "pki"
        self.address = urllib.parse.urlsplit(stack.server_url)
        self.context = ssl.create_default_context(cafile=str(stack.server_tls_dir / "ca.crt"))
        self.context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        self._local = threading.local()

    def send(
        self, ns: str, event_id: str, wait: float, kind: str = TYPE, data: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            host, port = self.address.hostname or "127.0.0.1", self.address.port
            connection = self._local.connection = http.client.HTTPSConnection(host, port, context=self.context)
        body = {"specversion": "1.0", "id": event_id, "source": SOURCE, "type": kind, "data": data or {"i": event_id}}
        connection.request(
            "POST",
            f"/api/v1/namespaces/{ns}/events?wait={wait}",
            body=json.dumps(body),
            headers={"Content-Type": "application/cloudevents+json"},
        )
        response = connection.getresponse()
        text = response.read()
        if response.status not in (200, 202):
            raise RuntimeError(f"the server answered {response.status}: {text!r}")
        answer: dict[str, Any] = json.loads(text)
        return answer


JOIN = {
    "filters": [{"name": "paid", "type": "bench.paid"}, {"name": "packed", "type": "bench.packed"}],
    "correlate": {"path": "data.order"},
    "within": "1h",
}


def _trigger(api: client.ApiClient, ns: str, name: str, target: str, join: bool = False) -> None:
    matching: dict[str, Any] = {"join": JOIN} if join else {"filter": {"type": TYPE}}
    body = {
        "apiVersion": "ferris.io/v1alpha1",
        "kind": "FerrisTrigger",
        "metadata": {"name": name},
        "spec": {**matching, "targets": [{"packageRef": {"name": target}}]},
    }
    client.CustomObjectsApi(api).create_namespaced_custom_object("ferris.io", "v1alpha1", ns, "ferristriggers", body)


def _namespace_with_package(api: client.ApiClient, name: str, triggered: bool, join: bool = False) -> str:
    """A namespace with package "p" Ready, and a trigger "tick" on TYPE (or joining orders) for
    it if ``triggered``."""
    ns = namespace(api, name)
    package(api, ns, "p")
    wait_ready(api, ns, "p")
    if triggered:
        _trigger(api, ns, "tick", "p", join)
        time.sleep(2)  # the trigger's first reconcile
    return ns


def _burst(
    api: client.ApiClient, stack: FerrisStack, ns: str, n: int, concurrency: int, make: Callable[[int, float], None]
) -> tuple[admission.RunWatcher, admission.Timeline, float]:
    """``make(i, start)`` for N items by ``concurrency`` clients, the node cordoned, until every
    FerrisRun is seen and every Job made; the watcher, the timeline, and the time to make all."""
    timeline = admission.Timeline()
    runs = admission.RunWatcher(api, ns, time.monotonic(), timeline)
    jobs = admission.JobWatcher(
        api, ns, lambda job: job["metadata"]["labels"]["ferris.io/run"], time.monotonic(), timeline, False
    )
    with Cordon(stack):
        runs.start()
        jobs.start()
        time.sleep(1)  # both watches established
        start = time.monotonic()
        runs.start_time = jobs.start_time = start
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(lambda i: make(i, start), range(n)))
        made_all = time.monotonic() - start
        deadline = time.monotonic() + 600
        while (len(runs.seen) < n or len(timeline.job_seen) < n) and time.monotonic() < deadline:
            time.sleep(0.1)
        runs.stop.set()
        jobs.stop.set()
    return runs, timeline, made_all


def _last(marks: dict[str, float], n: int) -> float:
    return max(marks.values()) if len(marks) >= n else float("nan")


def routed_burst(api: client.ApiClient, stack: FerrisStack, n: int, concurrency: int) -> dict[str, Any]:
    ns = _namespace_with_package(api, f"bench-events-{n}", triggered=True)
    sender = Sender(stack)
    ids = [uuid.uuid4().hex for _ in range(n)]
    names = {run_name("tick", "p", Event(i, TYPE, SOURCE, ns)): i for i in ids}
    accepted: dict[str, float] = {}

    def send(i: int, start: float) -> None:
        sender.send(ns, ids[i], wait=0)
        accepted[ids[i]] = time.monotonic() - start

    runs, timeline, sent_all = _burst(api, stack, ns, n, concurrency, send)
    latencies = [(runs.seen[name] - accepted[i]) * 1000 for name, i in names.items() if name in runs.seen]
    all_runs = _last(runs.seen, n)
    return {
        "n": n,
        "runs_made": len(runs.seen),
        "unexpected_runs": len(set(runs.seen) - set(names)),
        "time_to_send_all_s": sent_all,
        "time_to_all_runs_s": all_runs,
        "time_to_all_jobs_s": _last(timeline.job_seen, n),
        "events_per_s": n / all_runs,
        "accepted_to_run_p50_ms": percentile(latencies, 50),
        "accepted_to_run_p99_ms": percentile(latencies, 99),
    }


def joined_burst(api: client.ApiClient, stack: FerrisStack, n: int, concurrency: int) -> dict[str, Any]:
    """N orders, a paid and a packed event each, into N joined runs."""
    ns = _namespace_with_package(api, f"bench-events-joined-{n}", triggered=True, join=True)
    sender = Sender(stack)

    def send(i: int, start: float) -> None:
        for kind in ("paid", "packed"):
            sender.send(ns, f"{kind}-{i}", wait=0, kind=f"bench.{kind}", data={"order": i})

    runs, _, sent_all = _burst(api, stack, ns, n, concurrency, send)
    all_runs = _last(runs.seen, n)
    time.sleep(2)  # a routing pass more: nothing beyond one run per order
    listed: Any = client.CustomObjectsApi(api).list_namespaced_custom_object("ferris.io", "v1alpha1", ns, "ferrisruns")
    return {
        "n": n,
        "events": 2 * n,
        "runs_made": len(listed["items"]),
        "time_to_send_all_s": sent_all,
        "time_to_all_runs_s": all_runs,
        "orders_per_s": n / all_runs,
    }


def direct_burst(api: client.ApiClient, stack: FerrisStack, n: int, concurrency: int) -> dict[str, Any]:
    ns = _namespace_with_package(api, f"bench-events-direct-{n}", triggered=False)
    custom = client.CustomObjectsApi(api)

    def create(i: int, start: float) -> None:
        body = {
            "apiVersion": "ferris.io/v1alpha1",
            "kind": "FerrisRun",
            "metadata": {"name": f"p-{i:05d}"},
            "spec": {"packageRef": {"name": "p"}},  # the baseline: runs made directly, as a person would
        }
        custom.create_namespaced_custom_object("ferris.io", "v1alpha1", ns, "ferrisruns", body)

    runs, timeline, _ = _burst(api, stack, ns, n, concurrency, create)
    all_runs = _last(runs.seen, n)
    return {
        "n": n,
        "time_to_all_runs_s": all_runs,
        "time_to_all_jobs_s": _last(timeline.job_seen, n),
        "runs_per_s": n / all_runs,
    }


def round_trips(api: client.ApiClient, stack: FerrisStack, count: int) -> dict[str, Any]:
    """One event at a time, each waiting for its outcome: what a sender sees."""
    ns = _namespace_with_package(api, "bench-events-rtt", triggered=True)
    sender = Sender(stack)
    times, routed = [], 0
    with Cordon(stack):
        for _ in range(count):
            began = time.monotonic()
            answer = sender.send(ns, uuid.uuid4().hex, wait=10)
            times.append((time.monotonic() - began) * 1000)
            routed += bool(answer["routed"] and answer["runs"])
    return {"count": count, "routed_with_run": routed, "p50_ms": percentile(times, 50), "p99_ms": percentile(times, 99)}


def measure(stack: FerrisStack, api: client.ApiClient, n: int, concurrency: int) -> dict[str, Any]:
    routed = routed_burst(api, stack, n, concurrency)
    direct = direct_burst(api, stack, n, concurrency)
    return {
        "routed": routed,
        "direct": direct,
        "ratio_time_to_all_runs": ratio(routed["time_to_all_runs_s"], direct["time_to_all_runs_s"]),
        "ratio_time_to_all_jobs": ratio(routed["time_to_all_jobs_s"], direct["time_to_all_jobs_s"]),
        "round_trip": round_trips(api, stack, 50),
        "joined": (joined := joined_burst(api, stack, n, concurrency)),
        "ratio_joined_to_plain_all_runs": ratio(joined["time_to_all_runs_s"], routed["time_to_all_runs_s"]),
    }


def summary(r: dict[str, Any]) -> str:
    e, d, rt = r["routed"], r["direct"], r["round_trip"]
    return (
        f"events: {e['n']} events sent in {e['time_to_send_all_s']:.1f} s through the server into runs: every "
        f"FerrisRun {e['time_to_all_runs_s']:.1f} s, every Job {e['time_to_all_jobs_s']:.1f} s "
        f"({e['events_per_s']:.0f} events/s; {e['runs_made']} runs made, {e['unexpected_runs']} unexpected); the same "
        f"FerrisRuns created directly: {d['time_to_all_runs_s']:.1f} s, Jobs {d['time_to_all_jobs_s']:.1f} s (ratios "
        f"{r['ratio_time_to_all_runs']:.2f}, Jobs {r['ratio_time_to_all_jobs']:.2f}); accepted to FerrisRun p50 "
        f"{e['accepted_to_run_p50_ms']:.0f} ms, p99 "
        f"{e['accepted_to_run_p99_ms']:.0f} ms; a sender waiting for the outcome, one at a time: p50 "
        f"{rt['p50_ms']:.0f} ms, p99 {rt['p99_ms']:.0f} ms"
        f" ({rt['routed_with_run']}/{rt['count']} answered with their run); {r['joined']['n']} orders joined from"
        f" {r['joined']['events']} events: every run {r['joined']['time_to_all_runs_s']:.1f} s"
        f" ({r['joined']['runs_made']} runs; against the plain burst's {e['time_to_all_runs_s']:.1f} s, ratio"
        f" {r['ratio_joined_to_plain_all_runs']:.2f})"
    )
