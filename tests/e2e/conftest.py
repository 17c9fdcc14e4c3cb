"""End-to-end fixtures: PostgreSQL, the local cluster and the operator, as `ferris-devcluster demo` runs them."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from ferris_devcluster.kube import client_for
from ferris_devcluster.stack import FerrisStack

FERRIS = str(Path(sys.executable).parent / "ferris")

# Where the tests' reads go: (API path prefix, plural, namespaced). Reads that a test polls
# are GETs through the Python client, about 1 ms of CPU each; a kubectl process costs about
# 90 ms, which a test polling every 0.3 s turns into a third of a core. What a user types
# (apply, create, delete, the printed columns) still goes through kubectl.
RESOURCES = {
    "ferrisrun": ("/apis/ferris.io/v1alpha1", "ferrisruns", True),
    "ferrispackage": ("/apis/ferris.io/v1alpha1", "ferrispackages", True),
    "ferrisprojectsecrets": ("/apis/ferris.io/v1alpha1", "ferrisprojectsecrets", True),
    "ferrisplatformsecrets": ("/apis/ferris.io/v1alpha1", "ferrisplatformsecrets", False),
    "ferristrigger": ("/apis/ferris.io/v1alpha1", "ferristriggers", True),
    "ferriseventsource": ("/apis/ferris.io/v1alpha1", "ferriseventsources", True),
    "job": ("/apis/batch/v1", "jobs", True),
    "secret": ("/api/v1", "secrets", True),
    "configmap": ("/api/v1", "configmaps", True),
    "pod": ("/api/v1", "pods", True),
    "event": ("/api/v1", "events", True),
}


class Ferris:
    """Drives the stack as a user would: kubectl, the ferris CLI, and a look into PostgreSQL."""

    def __init__(self, stack: FerrisStack) -> None:
        self.stack = stack
        self.api = client_for(stack.kubeconfig).api

    def read(self, namespace: str, kind: str, name: str | None = None, selector: str | None = None) -> Any:
        """GET one object (None when there is none) or, without ``name``, the list of a kind."""
        prefix, plural, namespaced = RESOURCES[kind]
        path = f"{prefix}/namespaces/{namespace}/{plural}" if namespaced else f"{prefix}/{plural}"
        verb, url, headers, _, _ = self.api.param_serialize(
            method="GET",
            resource_path=path + (f"/{name}" if name else ""),
            query_params=[("labelSelector", selector)] if selector else [],
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        response = self.api.call_api(verb, url, header_params=headers)
        data = response.read() or b""
        if response.status == 404 and name:
            return None
        if not 200 <= response.status <= 299:
            raise ApiException.from_response(http_resp=response, body=data.decode(errors="replace"), data=None)
        return json.loads(data)

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.stack.kubectl(*args, input=input, check=check)

    def apply(self, namespace: str, *objects: dict[str, Any], check: bool = True) -> subprocess.CompletedProcess[str]:
        documents = yaml.safe_dump_all(list(objects))
        return self.kubectl("apply", "-n", namespace, "-f", "-", input=documents, check=check)

    def ferris(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [FERRIS, *args], env=self.stack.env(), input=input, capture_output=True, text=True, timeout=300
        )

    def get(self, namespace: str, kind: str, name: str) -> dict[str, Any]:
        if kind not in RESOURCES:
            result: dict[str, Any] = json.loads(self.kubectl("get", "-n", namespace, kind, name, "-o", "json").stdout)
            return result
        found = self.read(namespace, kind, name)
        assert found is not None, f"{kind} {namespace}/{name} not found"
        return dict(found)

    def exists(self, namespace: str, kind: str, name: str) -> bool:
        if kind not in RESOURCES:
            return self.kubectl("get", "-n", namespace, kind, name, check=False).returncode == 0
        return self.read(namespace, kind, name) is not None

    def create_run(self, namespace: str, package: str, name: str | None = None, **spec: Any) -> str:
        name = name or f"{package[:40]}-{uuid.uuid4().hex[:6]}"
        self.apply(
            namespace,
            {
                "apiVersion": "ferris.io/v1alpha1",
                "kind": "FerrisRun",
                "metadata": {"name": name},
                "spec": {"packageRef": {"name": package}, **spec},
            },
        )
        return name

    def runs(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        """The FerrisRuns of a namespace with these labels."""
        items: list[dict[str, Any]] = self.read(namespace, "ferrisrun", selector=selector)["items"]
        return items

    def wait_runs(self, namespace: str, selector: str, count: int, timeout: float = 150) -> list[dict[str, Any]]:
        """At least ``count`` FerrisRuns with these labels."""
        deadline = time.monotonic() + timeout
        while len(runs := self.runs(namespace, selector)) < count:
            assert time.monotonic() < deadline, f"{len(runs)} runs with {selector}, not {count}"
            time.sleep(0.5)
        return runs

    def wait_run(self, namespace: str, name: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            run = self.get(namespace, "ferrisrun", name)
            if (run.get("status") or {}).get("phase") in ("Succeeded", "Failed", "Cancelled"):
                return run
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"run {name} did not finish: {json.dumps(run.get('status'), indent=1)}\n"
                    f"{self.operator_log()[-3000:]}"
                )
            time.sleep(0.3)

    def wait_condition(self, namespace: str, kind: str, name: str, reason: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            obj = self.get(namespace, kind, name)
            for cond in (obj.get("status") or {}).get("conditions") or []:
                if cond["type"] == "Ready" and cond.get("reason") == reason:
                    return dict(cond)
            if time.monotonic() > deadline:
                raise AssertionError(f"{kind} {name}: no Ready reason {reason}: {json.dumps(obj.get('status'))}")
            time.sleep(0.3)

    def wait_gone(self, namespace: str, run: str, timeout: float = 60) -> None:
        """The run's Job and pods are deleted (not merely finished)."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.exists(namespace, "job", f"{run}-run")
            found = self.read(namespace, "pod", selector=f"ferris.io/run={run}")["items"]
            pods = [pod["metadata"]["name"] for pod in found]
            if not job and not pods:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"run {run}: Job present {job}, pods {pods}")
            time.sleep(0.3)

    def events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        items = self.read(namespace, "event")["items"]
        return [e for e in items if e["involvedObject"].get("name") == name]

    def wait_events(
        self, namespace: str, name: str, reason: str, kind: str | None = None, timeout: float = 30
    ) -> list[dict[str, Any]]:
        """The object's Events of one reason, once there is at least one.

        Events are posted after the status they explain, by a queue of their own: a test that
        reads them once, right after the status, races that queue."""
        deadline = time.monotonic() + timeout
        while True:
            found = [
                e for e in self.events(namespace, name) if e["reason"] == reason and (kind is None or e["type"] == kind)
            ]
            if found:
                return found
            if time.monotonic() > deadline:
                seen = sorted({e["reason"] for e in self.events(namespace, name)})
                raise AssertionError(f"no {reason} Event for {name} in {timeout:.0f} s; seen: {seen}")
            time.sleep(0.3)

    def steps(self, run_uid: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.stack.postgres.url) as conn:
            return conn.execute(
                "SELECT idx, name, phase, exit_code, output FROM steps WHERE run_uid = %s ORDER BY idx", (run_uid,)
            ).fetchall()

    def run_row(self, run_uid: str) -> tuple[Any, ...] | None:
        with psycopg.connect(self.stack.postgres.url) as conn:
            return conn.execute(
                "SELECT phase, reason, secrets_version, package_generation FROM runs WHERE uid = %s", (run_uid,)
            ).fetchone()

    def operator_log(self) -> str:
        return self.stack.operator_log.read_text(errors="replace")

    def node_logs(self) -> str:
        """Every container log the process node wrote (runner pods' output included)."""
        logs = Path(self.stack.cluster.node_dir, "logs").rglob("*.log")
        return "\n".join(path.read_text(errors="replace") for path in logs)

    def pg_dump(self) -> str:
        """The whole database as pg_dump prints it."""
        return subprocess.run(
            [str(self.stack.postgres.bin_dir / "pg_dump"), "--dbname", self.stack.postgres.url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    def package(self, namespace: str, name: str, script: str | list[tuple[str, str]], **spec: Any) -> None:
        scripts = (
            [{"name": "main.py", "content": script}]
            if isinstance(script, str)
            else [{"name": n, "content": c} for n, c in script]
        )
        self.apply(
            namespace,
            {
                "apiVersion": "ferris.io/v1alpha1",
                "kind": "FerrisPackage",
                "metadata": {"name": name},
                "spec": {"scripts": scripts, **spec},
            },
        )

    @staticmethod
    def runner_process(run_uid: str) -> psutil.Process | None:
        """The runner process of a run, as the host sees it (in either node mode)."""
        for process in psutil.process_iter(["cmdline", "environ"]):
            environ = process.info.get("environ") or {}
            # The runner itself (its entry point's path), not a podman client naming the image.
            if environ.get("FERRIS_RUN_UID") == run_uid and any(
                a.endswith("/ferris-runner") for a in process.info["cmdline"] or []
            ):
                return process
        return None

    def kill_runner(self, run_uid: str) -> None:
        """The run's container gone at once, as with its node: every process of the runner is
        stopped before any is killed, so that none sees another die and reports it."""
        runner = self.runner_process(run_uid)
        assert runner is not None, "no runner process for the run"
        stopped: dict[int, psutil.Process] = {}
        while news := [p for p in [runner, *runner.children(recursive=True)] if p.pid not in stopped]:
            for process in news:  # again until no child was forked in between
                with contextlib.suppress(psutil.NoSuchProcess):
                    process.suspend()
                stopped[process.pid] = process
        for process in stopped.values():
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()

    def secret(self, namespace: str, name: str, document: str, key: str = "secrets.json") -> None:
        self.kubectl(
            "create",
            "secret",
            "generic",
            name,
            "-n",
            namespace,
            "--type=ferris.io/secrets-json",
            f"--from-literal={key}={document}",
        )


@pytest.fixture(scope="session")
def ferris() -> Iterator[Ferris]:
    # The periodic re-read of source Secrets every 5 s instead of 60, so that a test can see it;
    # chains of event-started runs cut at 4 instead of 10, so that a test of a loop is short.
    with FerrisStack(operator_env={"FERRIS_SOURCE_RESYNC_SECONDS": "5", "FERRIS_MAX_CHAIN_DEPTH": "4"}) as stack:
        yield Ferris(stack)


@pytest.fixture
def ns(ferris: Ferris) -> str:
    name = "e2e-" + uuid.uuid4().hex[:8]
    ferris.kubectl("create", "namespace", name)
    return name
