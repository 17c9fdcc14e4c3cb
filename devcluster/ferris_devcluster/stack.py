"""The whole local Ferris: PostgreSQL, the cluster, the CRDs, the operator and the server as
processes, and the RBAC the chart installs.

Used by `ferris-devcluster demo` and the end-to-end tests. The operator and the server run from
this checkout with the settings a Helm install gives them, pointed at loopback addresses, each
as its own ServiceAccount (a bearer token) under the chart's roles, as in a cluster.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

from ferris_devcluster.cluster import LocalCluster
from ferris_devcluster.interrupts import shielded
from ferris_devcluster.pki import serving_certificate
from ferris_devcluster.ports import free_port
from ferris_devcluster.postgres import LocalPostgres
from ferris_devcluster.processes import Supervised
from ferris_devcluster.replicated import ReplicatedPostgres

REPO = Path(__file__).resolve().parents[2]
OPERATOR_NAMESPACE = "ferris-system"
RBAC_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")


class FerrisStack:
    def __init__(
        self,
        directory: Path | None = None,
        operator_env: dict[str, str] | None = None,
        runtime: str | None = None,
        replicated: bool = False,
        kueue: bool = False,
    ) -> None:
        self.directory = directory or Path(tempfile.mkdtemp(prefix="ferris-stack-"))
        self.directory.chmod(0o755)  # PostgreSQL runs unprivileged below it
        # replicated: a primary and a synchronous standby, for failovers (replicated.py)
        database = self.directory / "postgres"
        self.postgres: LocalPostgres | ReplicatedPostgres = (
            ReplicatedPostgres(database) if replicated else LocalPostgres(database)
        )
        # runtime: how the node runs pods (LocalCluster's; FERRIS_NODE_RUNTIME by default)
        # kueue: Kueue's controller and Ferris's lanes on the cluster, and the operator making its
        # Jobs for it (chart kueue.enabled)
        self.cluster = LocalCluster(self.directory / "cluster", runtime=runtime, kueue=kueue)
        if kueue:
            operator_env = {"FERRIS_KUEUE_ENABLED": "true", **(operator_env or {})}
        self.key_dir = self.directory / "master-key"
        self.api_tls_dir = self.directory / "runner-api-tls"
        self.server_tls_dir = self.directory / "server-tls"
        self.api_port = free_port()
        self.health_port = free_port()
        self.server_port = free_port()
        self.server_health_port = free_port()
        self.operator: Supervised | None = None
        self.server: Supervised | None = None
        self.operator_env = operator_env or {}  # settings of the operator beyond the defaults
        # Who the operator and the server are to the API server (their ServiceAccounts; set by start()).
        self.operator_kubeconfig = self.kubeconfig
        self.server_kubeconfig = self.kubeconfig

    @property
    def kubeconfig(self) -> Path:
        return self.cluster.kubeconfig

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.cluster.kubectl(*args, input=input, check=check)

    def env(self) -> dict[str, str]:
        """Environment for the operator and for the `ferris` CLI against this stack."""
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "FERRIS_DATABASE_URL": self.postgres.url,
            "FERRIS_MASTER_KEY_DIR": str(self.key_dir),
            "FERRIS_NAMESPACE": OPERATOR_NAMESPACE,
            # The server serves the runner API (bind, port, certificate); the operator names it
            # to runners (URL, CA).
            "FERRIS_RUNNER_API_BIND": "127.0.0.1",
            "FERRIS_RUNNER_API_PORT": str(self.api_port),
            "FERRIS_RUNNER_API_URL": f"https://127.0.0.1:{self.api_port}",
            "FERRIS_RUNNER_API_TLS_DIR": str(self.api_tls_dir),
            "FERRIS_RUNNER_API_CA_FILE": str(self.api_tls_dir / "ca.crt"),
            "FERRIS_HEALTH_BIND": "127.0.0.1",
            "FERRIS_HEALTH_PORT": str(self.health_port),
            # The default runner, and one registry that never answers (to try pull failures).
            "FERRIS_RUNNER_ALLOWED_IMAGES": "ghcr.io/ferris-run/ferris-runner:*,registry.invalid/*",
            # Cluster-wide, as the chart sets it with its NetworkPolicies on: each namespace's
            # runner egress policy made by the operator (not enforced here: no network plugin).
            "FERRIS_RUNNER_EGRESS_POLICY": json.dumps(
                {"serverLabels": {"app.kubernetes.io/component": "server"}, "port": self.api_port}
            ),
            **self.operator_env,
        }

    def start(self) -> None:
        try:
            self.postgres.start()
            self.cluster.start()
            self._write_master_key()
            for directory in (self.api_tls_dir, self.server_tls_dir):
                if not directory.exists():
                    serving_certificate(directory, ("127.0.0.1", "localhost"))
            self.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
            if self.cluster.kueue is not None:  # the lanes, as the chart ships them
                self.kubectl("apply", "--server-side", "-f", str(REPO / "charts/ferris/files/kueue-lanes.yaml"))
            self.kubectl(
                "wait",
                "--for=condition=Established",
                "crd/ferrispackages.ferris.io",
                "crd/ferrisruns.ferris.io",
                "crd/ferristriggers.ferris.io",
                "crd/ferriseventsources.ferris.io",
                "crd/ferrisprojectsecrets.ferris.io",
                "crd/ferrisplatformsecrets.ferris.io",
                "--timeout=60s",
            )
            self.kubectl("create", "namespace", OPERATOR_NAMESPACE)
            if self.operator_env.get("FERRIS_PEERING") == "true":  # several replicas: kopf's peering
                self.kubectl(
                    "apply", "--server-side", "-f", str(REPO / "charts" / "ferris" / "crds" / "kopf-peering.yaml")
                )
                self.kubectl("wait", "--for=condition=Established", "crd/clusterkopfpeerings.kopf.dev")
                name = self.operator_env.get("FERRIS_PEERING_NAME", "ferris")
                peering = {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": name}}
                self.kubectl("apply", "-f", "-", input=json.dumps(peering))
            self._apply_rbac()
            self.operator_kubeconfig = self.cluster.service_account_kubeconfig(OPERATOR_NAMESPACE, "ferris")
            self.server_kubeconfig = self.cluster.service_account_kubeconfig(OPERATOR_NAMESPACE, "ferris-server")
            self.start_operator()
            self.start_server()
        except BaseException:
            self.stop()
            raise

    @property
    def server_url(self) -> str:
        return f"https://127.0.0.1:{self.server_port}"

    def _apply_rbac(self) -> None:
        """The chart's RBAC (from deploy/ferris.yaml): the ServiceAccounts of the operator and
        the server with their roles, the roles aggregated into view, edit and admin, and the
        public reader of the sealing key and the server's address."""
        docs = [d for d in yaml.safe_load_all((REPO / "deploy" / "ferris.yaml").read_text()) if d]
        wanted = [d for d in docs if d["kind"] in RBAC_KINDS]
        self.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(wanted))

    def _write_master_key(self) -> None:
        if self.key_dir.exists():
            return
        self.key_dir.mkdir(parents=True)
        (self.key_dir / "k1").write_text(base64.b64encode(secrets.token_bytes(32)).decode())
        (self.key_dir / "active").write_text("k1")
        for path in self.key_dir.iterdir():
            path.chmod(0o600)

    def _operator_process(
        self,
        name: str,
        health_port: int,
        timeout: float,
        command: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> Supervised:
        process = Supervised(
            name,
            command or [str(Path(sys.executable).parent / "ferris-operator")],
            self.cluster.logs,
            # MALLOC_ARENA_MAX as the operator image sets it.
            env={
                **self.env(),
                "KUBECONFIG": str(self.operator_kubeconfig),
                "FERRIS_HEALTH_PORT": str(health_port),
                "MALLOC_ARENA_MAX": "2",
                **(env or {}),
            },
        )
        _wait_ready(process, health_port, timeout)
        return process

    def start_operator(
        self, timeout: float = 60, command: list[str] | None = None, env: dict[str, str] | None = None
    ) -> None:
        """The operator (``command``, with ``env`` added, in its place: a profiled one)."""
        self.operator = self._operator_process("operator", self.health_port, timeout, command, env)

    def start_replica(self, name: str, timeout: float = 60) -> Supervised:
        """Another operator process beside ``operator`` (peering decides which one works); its
        own health port. The caller stops it."""
        return self._operator_process(name, free_port(), timeout)

    def start_server(self, timeout: float = 60) -> None:
        env = {
            **self.env(),
            "KUBECONFIG": str(self.server_kubeconfig),
            "FERRIS_SERVER_BIND": "127.0.0.1",
            "FERRIS_SERVER_PORT": str(self.server_port),
            "FERRIS_SERVER_TLS_DIR": str(self.server_tls_dir),
            "FERRIS_SERVER_PUBLIC_URL": self.server_url,
            "FERRIS_HEALTH_PORT": str(self.server_health_port),
        }
        self.server = Supervised(
            "server", [str(Path(sys.executable).parent / "ferris-server")], self.cluster.logs, env=env
        )
        _wait_ready(self.server, self.server_health_port, timeout)

    def stop_server(self) -> None:
        if self.server:
            self.server.stop()
            self.server = None

    def kill_operator(self) -> None:
        """SIGKILL, as a crash or an OOM kill would."""
        if self.operator:
            import signal

            os.killpg(self.operator.pid, signal.SIGKILL)
            self.operator.process.wait()
            self.operator = None

    def stop_operator(self) -> None:
        if self.operator:
            self.operator.stop()
            self.operator = None

    @property
    def operator_log(self) -> Path:
        return self.cluster.logs / "operator.log"

    @property
    def server_log(self) -> Path:
        return self.cluster.logs / "server.log"

    @shielded()
    def stop(self) -> None:
        self.stop_server()
        self.stop_operator()
        self.cluster.stop()
        self.postgres.stop()

    @shielded()
    def destroy(self) -> None:
        self.stop()
        import shutil

        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> FerrisStack:
        try:
            self.start()
        except BaseException:  # a failed start leaves no process and no folder behind
            self.destroy()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()


def _wait_ready(process: Supervised, health_port: int, timeout: float) -> None:
    """Until ``process`` answers /readyz; one that does not (or an interrupt while waiting) is
    stopped before the error goes on, since no caller holds it yet."""
    try:
        _poll_ready(process, health_port, timeout)
    except BaseException:
        process.stop()
        raise


def _poll_ready(process: Supervised, health_port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if not process.alive():
            raise RuntimeError(f"the {process.name} exited:\n{process.tail(40)}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{health_port}/readyz", timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the {process.name} did not become ready:\n{process.tail(40)}") from None
            time.sleep(0.2)
