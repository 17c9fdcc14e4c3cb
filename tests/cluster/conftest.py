"""The local cluster for the tests: one real control plane and process node per session."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ferris_devcluster.cluster import LocalCluster
from ferris_devcluster.kube import Clients, client_for


class ClusterHandle:
    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        self.kubeconfig: Path = cluster.kubeconfig
        self.clients: Clients = client_for(cluster.kubeconfig)

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.cluster.kubectl(*args, input=input, check=check)

    def pod_log(self, namespace: str, pod: str, container: str) -> str:
        path = self.cluster.node_dir / "logs" / namespace / pod / f"{container}.log"
        return path.read_text() if path.exists() else ""


@pytest.fixture(scope="session")
def cluster() -> Iterator[ClusterHandle]:
    with LocalCluster() as local:
        yield ClusterHandle(local)


@pytest.fixture
def namespace(cluster: ClusterHandle) -> Iterator[str]:
    name = "t-" + uuid.uuid4().hex[:8]
    cluster.kubectl("create", "namespace", name)
    wait_for(lambda: _has_default_sa(cluster, name), 30, "default ServiceAccount")
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def _has_default_sa(cluster: ClusterHandle, namespace: str) -> bool:
    return cluster.kubectl("get", "serviceaccount", "default", "-n", namespace, check=False).returncode == 0


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
