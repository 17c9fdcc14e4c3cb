"""A real control plane on loopback: etcd, kube-apiserver, kube-controller-manager, and the
process node. Random free ports, a private directory, RBAC on; stopped as a whole."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from ferris_devcluster import binaries, control_plane, imagebuild, pki
from ferris_devcluster.interrupts import shielded
from ferris_devcluster.kubeconfig import write_kubeconfig
from ferris_devcluster.kueue import KueueSetup
from ferris_devcluster.kueue import crd_dir as kueue_crds
from ferris_devcluster.node.container_runtime import clear_node, node_id
from ferris_devcluster.podman import Podman
from ferris_devcluster.ports import free_port
from ferris_devcluster.processes import Supervised

STATE_FILE = "cluster.json"
RUNTIMES = ("processes", "containers")


class ClusterStartError(RuntimeError):
    pass


@dataclass(frozen=True)
class ClusterInfo:
    directory: Path
    kubeconfig: Path
    server: str
    pids: dict[str, int]


class LocalCluster:
    """Start with ``start()`` (or ``with``), stop with ``stop()``; ``directory`` holds it all."""

    def __init__(
        self,
        directory: Path | None = None,
        node_name: str = "process-node",
        images: dict[str, list[str]] | None = None,
        audit: bool = False,
        runtime: str | None = None,
        kueue: bool = False,
    ) -> None:
        self.directory = directory or Path(tempfile.mkdtemp(prefix="ferris-cluster-"))
        # Kueue's controller beside the control plane (kueue.py); its visibility server's URL once started
        self.kueue = KueueSetup(self.directory / "kueue", self.directory / "admin.kubeconfig") if kueue else None
        self.node_name = node_name
        self.images = images
        # processes (the fast mode) or containers (real images): FERRIS_NODE_RUNTIME by default
        self.runtime = runtime or os.environ.get("FERRIS_NODE_RUNTIME") or "processes"
        if self.runtime not in RUNTIMES:
            raise ValueError(f"node runtime {self.runtime!r}: choose one of {', '.join(RUNTIMES)}")
        self.processes: list[Supervised] = []
        self.bins = binaries.resolve()
        self.api_port = free_port()
        self.etcd_port = 0  # chosen at start
        self.kubeconfig = self.directory / "admin.kubeconfig"
        self.audit = audit

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def logs(self) -> Path:
        return self.directory / "logs"

    @property
    def node_dir(self) -> Path:
        return self.directory / "node"

    def start(self, timeout: float = 90.0) -> ClusterInfo:
        started = time.monotonic()
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        info = self.info()
        (self.directory / STATE_FILE).write_text(
            json.dumps(
                {"kubeconfig": str(info.kubeconfig), "server": info.server, "pids": info.pids, "runtime": self.runtime}
            )
        )
        print(
            f"ferris-devcluster: ready in {time.monotonic() - started:.1f}s ({self.bins.describe()})", file=sys.stderr
        )
        return info

    def _start(self, timeout: float) -> None:
        if self.runtime == "containers":
            imagebuild.ensure_current_images()  # the images of this checkout, as `make images` builds them
        self.logs.mkdir(parents=True, exist_ok=True)
        certs = pki.generate(self.directory / "pki")
        write_kubeconfig(self.kubeconfig, self.server, certs.ca_cert, certs.admin_cert, certs.admin_key)
        self.etcd_port = etcd_port = free_port()  # its client URL also serves etcd's JSON gateway (bench)
        self._spawn("etcd", control_plane.etcd(self.bins["etcd"], self.directory / "etcd", etcd_port, free_port()))
        audit_log = self.audit_log if self.audit else None
        self._spawn(
            "kube-apiserver",
            control_plane.kube_apiserver(
                self.bins["kube-apiserver"], etcd_port, self.api_port, certs, self.directory, audit_log
            ),
        )
        self._wait_ready(timeout)
        self._spawn(
            "kube-controller-manager",
            control_plane.kube_controller_manager(
                self.bins["kube-controller-manager"], self.kubeconfig, free_port(), certs
            ),
        )
        node_argv = [
            sys.executable,
            "-m",
            "ferris_devcluster.node",
            "--kubeconfig",
            str(self.kubeconfig),
            "--name",
            self.node_name,
            "--state-dir",
            str(self.node_dir),
            "--api-port",
            str(self.api_port),
            "--runtime",
            self.runtime,
        ]
        if self.images is not None:
            node_argv += ["--images", json.dumps(self.images)]
        self._node_argv = node_argv
        self._spawn("process-node", node_argv)
        self._wait_default_service_account(timeout)
        if self.kueue is not None:
            self._start_kueue(self.kueue, timeout)

    def _start_kueue(self, kueue: KueueSetup, timeout: float) -> None:
        crds = kueue_crds()
        self.kubectl("apply", "--server-side", "-f", str(crds))
        names = [  # kueue.x-k8s.io_workloads.yaml holds crd/workloads.kueue.x-k8s.io
            f"crd/{path.stem.split('_', 1)[1]}.{path.stem.split('_', 1)[0]}" for path in sorted(crds.glob("*.yaml"))
        ]
        self.kubectl("wait", "--for=condition=Established", f"--timeout={timeout:.0f}s", *names)
        self._spawn("kueue", kueue.prepare())
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{kueue.health_port}/readyz", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"kueue was not ready within {timeout:.0f} s; see {self.logs / 'kueue.log'}")
            time.sleep(0.2)

    def restart(self, name: str, timeout: float = 90.0) -> None:
        """Stop a control-plane process (``etcd``, ``kube-apiserver``, ``kube-controller-manager``)
        and start it again with the same command line, data and ports; back when it answers."""
        [proc] = [p for p in self.processes if p.name == name]
        proc.stop()
        self.processes[self.processes.index(proc)] = Supervised(name, proc.argv, self.logs)
        self._wait_ready(timeout)

    def crash_node(self) -> None:
        """SIGKILL the process node and every container it runs, as a node that loses power."""
        [node] = [p for p in self.processes if p.name == "process-node"]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.pid, signal.SIGKILL)
        node.process.wait()
        self.processes.remove(node)
        self._clear_containers()

    def _clear_containers(self) -> None:
        if self.runtime == "containers":
            clear_node(Podman.local(), node_id(self.node_dir))

    def start_node(self) -> None:
        """The process node started again (after ``crash_node``): it finds the pods it ran."""
        self._spawn("process-node", self._node_argv)

    @property
    def audit_log(self) -> Path:
        return self.logs / "audit.log"

    def _spawn(self, name: str, argv: list[str]) -> None:
        self.processes.append(Supervised(name, argv, self.logs))

    def _check_alive(self) -> None:
        for proc in self.processes:
            if not proc.alive():
                raise ClusterStartError(f"{proc.name} exited with {proc.process.returncode}:\n{proc.tail()}")

    def _wait_ready(self, timeout: float) -> None:
        certs = self.directory / "pki"
        context = ssl.create_default_context(cafile=str(certs / "ca.crt"))
        context.load_cert_chain(str(certs / "admin.crt"), str(certs / "admin.key"))
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            try:
                with urllib.request.urlopen(f"{self.server}/readyz", context=context, timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise ClusterStartError("kube-apiserver did not become ready in time")
            time.sleep(0.2)

    def _wait_default_service_account(self, timeout: float) -> None:
        """Pods can be created once the default ServiceAccount exists."""
        from ferris_devcluster.kube import client_for

        core = client_for(self.kubeconfig).core
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            try:
                core.read_namespaced_service_account("default", "default")
                core.read_node(self.node_name)
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise ClusterStartError("default ServiceAccount or node did not appear in time") from None
                time.sleep(0.2)

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run kubectl as the cluster admin."""
        return subprocess.run(
            [self.bins["kubectl"], f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
        )

    def service_account_kubeconfig(self, namespace: str, name: str, hours: int = 48) -> Path:
        """A kubeconfig that authenticates as ServiceAccount ``name`` (a bearer token from the
        TokenRequest API, as a pod's projected token is), for a process that should hold only
        the rights its RBAC grants."""
        token = self.kubectl("create", "token", name, "-n", namespace, f"--duration={hours}h").stdout.strip()
        return write_kubeconfig(
            self.directory / f"{namespace}-{name}.kubeconfig",
            self.server,
            self.directory / "pki" / "ca.crt",
            token=token,
            user=f"system:serviceaccount:{namespace}:{name}",
        )

    def info(self) -> ClusterInfo:
        return ClusterInfo(self.directory, self.kubeconfig, self.server, {p.name: p.pid for p in self.processes})

    @shielded()
    def stop(self) -> None:
        for proc in reversed(self.processes):
            # the node first, given the time its containers' grace periods may take
            proc.stop(grace=50.0 if proc.name == "process-node" else 10.0)
        self.processes.clear()
        self._clear_containers()

    @shielded()
    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        try:
            self.start()
        except BaseException:  # a failed start leaves no process and no folder behind
            self.destroy()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.destroy()


def stop_from_state(directory: Path, grace: float = 10.0) -> bool:
    """Stop a cluster started by another process (``ferris-devcluster down``)."""
    state_path = directory / STATE_FILE
    if not state_path.exists():
        return False
    pids: dict[str, int] = json.loads(state_path.read_text())["pids"]
    order = ["kueue", "process-node", "kube-controller-manager", "kube-apiserver", "etcd"]
    for name in order:
        pid = pids.get(name)
        if pid is None:
            continue
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    state = json.loads(state_path.read_text())
    if state.get("runtime") == "containers":
        clear_node(Podman.local(), node_id(directory / "node"))
    state_path.unlink()
    return True
