"""What a run costs etcd, measured from etcd's own database size (compacted and defragmented
before and after), for a 100 KiB and an 8 MiB package: each run's objects (the FerrisRun, its
bundle ConfigMap, Job and pod) beside one shared copy of the package's files, against the
baseline measured in the same run of a copy of the files per run (as every run's bundle held
them until shared content: possible up to 512 KiB). And the runner's start for an 8 MiB
package against a 1 KiB one (FerrisRun created to first step running).
`python -m bench.package_content`; also the `content` stage of `make bench`."""

from __future__ import annotations

import base64
import json
import os
import statistics
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

import psycopg
from kubernetes import client

from bench.cluster import namespace, wait_ready
from bench.stats import ratio, report
from ferris_devcluster.kube import client_for
from ferris_devcluster.stack import FerrisStack

KiB, MiB = 1024, 1024 * 1024
PIECE = 900 * KiB  # a source ConfigMap's share of a file
RUN_TIMEOUT = 600.0
STARTS = 5  # runs started one at a time for the start figure


def _etcd(port: int, call: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v3/{call}", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=120) as answer:  # noqa: S310 - loopback etcd
        found: dict[str, Any] = json.loads(answer.read())
        return found


def etcd_bytes(port: int) -> int:
    """etcd's database size with the history compacted away and the file defragmented: the bytes
    the objects that exist now take."""
    time.sleep(1.0)  # the last writes' events settle
    revision = int(_etcd(port, "maintenance/status", {})["header"]["revision"])
    try:
        _etcd(port, "kv/compaction", {"revision": str(revision), "physical": True})
    except urllib.error.HTTPError as exc:
        if exc.code != 400:  # 400: compacted at this revision already (nothing written since)
            raise
    _etcd(port, "maintenance/defragment", {})
    return int(_etcd(port, "maintenance/status", {})["dbSize"])


def _source_configmaps(core: client.CoreV1Api, ns: str, name: str, content: bytes) -> list[dict[str, str]]:
    refs = []
    for k, start in enumerate(range(0, len(content), PIECE)):
        part = base64.b64encode(content[start : start + PIECE]).decode()
        cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"{name}-{k}"), binary_data={"part": part})
        core.create_namespaced_config_map(ns, cm)
        refs.append({"name": f"{name}-{k}", "key": "part"})
    return refs


def _package(api: client.ApiClient, ns: str, name: str, size: int) -> None:
    refs = _source_configmaps(client.CoreV1Api(api), ns, name, os.urandom(size))  # incompressible
    spec = {
        "scripts": [{"name": "main.py", "content": "pass"}, {"name": "data.bin", "configMapRefs": refs}],
        "successfulRunsHistoryLimit": 1000,
        "ttlSecondsAfterFinished": 86400,
    }
    body = {"apiVersion": "ferris.io/v1alpha1", "kind": "FerrisPackage", "metadata": {"name": name}, "spec": spec}
    client.CustomObjectsApi(api).create_namespaced_custom_object("ferris.io", "v1alpha1", ns, "ferrispackages", body)
    wait_ready(api, ns, name)


def _runs(api: client.ApiClient, ns: str, package: str, count: int) -> dict[str, float]:
    """``count`` runs of ``package``, created one after another; their uid -> creation time."""
    custom = client.CustomObjectsApi(api)
    made = {}
    for _ in range(count):
        body = {
            "apiVersion": "ferris.io/v1alpha1",
            "kind": "FerrisRun",
            "metadata": {"name": f"{package}-{uuid.uuid4().hex[:8]}"},
            "spec": {"packageRef": {"name": package}},
        }
        created: Any = custom.create_namespaced_custom_object("ferris.io", "v1alpha1", ns, "ferrisruns", body)
        made[created["metadata"]["uid"]] = time.time()
    return made


def _wait_done(database_url: str, uids: list[str]) -> None:
    """Every run ended, and succeeded."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        with psycopg.connect(database_url) as conn:
            rows = conn.execute("SELECT uid, phase FROM runs WHERE uid = ANY(%s)", (uids,)).fetchall()
        ended = [row for row in rows if row[1] in ("Succeeded", "Failed", "Cancelled")]
        if len(ended) == len(uids):
            failed = [row[0] for row in ended if row[1] != "Succeeded"]
            if failed:
                raise RuntimeError(f"runs failed: {failed}")
            return
        time.sleep(1.0)
    raise RuntimeError("runs did not end in time")


def _start_seconds(api: client.ApiClient, database_url: str, ns: str, package: str, count: int) -> list[float]:
    """One run at a time: from its FerrisRun's creation to its first step reported running
    (read every 20 ms)."""
    took = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        for _ in range(count):
            [(uid, created)] = _runs(api, ns, package, 1).items()
            deadline = time.monotonic() + RUN_TIMEOUT
            while time.monotonic() < deadline:
                row = conn.execute("SELECT phase FROM steps WHERE run_uid = %s AND idx = 0", (uid,)).fetchone()
                if row is not None and row[0] != "Pending":
                    took.append(time.time() - created)
                    break
                time.sleep(0.02)
            _wait_done(database_url, [uid])
    return took


def _per_run(stack: FerrisStack, api: client.ApiClient, ns: str, name: str, size: int, runs: int) -> dict[str, Any]:
    _package(api, ns, name, size)
    port = stack.cluster.etcd_port
    before = etcd_bytes(port)
    created = _runs(api, ns, name, runs)
    _wait_done(stack.postgres.url, list(created))
    after = etcd_bytes(port)
    grown = after - before
    starts = _start_seconds(api, stack.postgres.url, ns, name, STARTS)
    return {
        "package_bytes": size,
        "runs": runs,
        "etcd_grown_bytes": grown,
        "etcd_bytes_per_run_beyond_one_copy": (grown - size) / runs,
        "start_to_first_step_s_median": statistics.median(starts),
    }


def _copies(stack: FerrisStack, api: client.ApiClient, ns: str, size: int, count: int) -> float:
    """Baseline: etcd bytes per ConfigMap holding a copy of ``size`` bytes of files."""
    core = client.CoreV1Api(api)
    port = stack.cluster.etcd_port
    before = etcd_bytes(port)
    for i in range(count):
        data = base64.b64encode(os.urandom(size)).decode()
        core.create_namespaced_config_map(
            ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"copy-{i}"), binary_data={"files": data})
        )
    return (etcd_bytes(port) - before) / count


def measure(stack: FerrisStack | None = None, runs: int = 20) -> dict[str, Any]:
    own = stack is None
    stack = stack or FerrisStack().__enter__()
    try:
        api = client_for(stack.kubeconfig).api
        ns = namespace(api, f"bench-content-{uuid.uuid4().hex[:6]}")
        tiny = _per_run(stack, api, ns, "tiny", 1 * KiB, runs)
        small = _per_run(stack, api, ns, "small", 100 * KiB, runs)
        large = _per_run(stack, api, ns, "large", 8 * MiB - 4 * KiB, runs)
        copy = _copies(stack, api, ns, 100 * KiB, runs)
        return {
            "tiny_1kib": tiny,
            "small_100kib": small,
            "large_8mib": large,
            "baseline_copy_per_run_100kib_bytes": copy,
            # Before: each run's own objects (as a 1 KiB package's) plus a copy of the files.
            "small_before_over_after": ratio(
                tiny["etcd_bytes_per_run_beyond_one_copy"] + copy, small["etcd_bytes_per_run_beyond_one_copy"]
            ),
            "large_over_tiny_start_ratio": ratio(
                large["start_to_first_step_s_median"], tiny["start_to_first_step_s_median"]
            ),
        }
    finally:
        if own:
            stack.__exit__(None, None, None)


def summary(results: dict[str, Any]) -> str:
    small, large, tiny = results["small_100kib"], results["large_8mib"], results["tiny_1kib"]
    return (
        f"Package content in etcd ({small['runs']} runs each; compacted, defragmented): beyond one shared copy,"
        f" {tiny['etcd_bytes_per_run_beyond_one_copy'] / KiB:.1f} KiB a run of a 1 KiB package,"
        f" {small['etcd_bytes_per_run_beyond_one_copy'] / KiB:.1f} KiB of a 100 KiB one,"
        f" {large['etcd_bytes_per_run_beyond_one_copy'] / KiB:.1f} KiB of an 8 MiB one"
        f" (a copy per run, the baseline: {results['baseline_copy_per_run_100kib_bytes'] / KiB:.1f} KiB more a run"
        f" of a 100 KiB package: {results['small_before_over_after']:.1f}x)."
        f" Start to first step: {large['start_to_first_step_s_median']:.2f} s for"
        f" 8 MiB, {tiny['start_to_first_step_s_median']:.2f} s for 1 KiB"
        f" ({results['large_over_tiny_start_ratio']:.2f}x)."
    )


if __name__ == "__main__":
    import sys

    report(measure(runs=int(sys.argv[1]) if len(sys.argv) > 1 else 20), summary)
