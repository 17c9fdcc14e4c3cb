"""The container worker of the process node: runs one pod's containers as local processes in a
private mount namespace, from bind to the pod's terminal status, as a kubelet would."""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from ferris_devcluster.node import status as pod_status
from ferris_devcluster.node.envvars import EnvError, resolve_env
from ferris_devcluster.node.images import image_roots, resolve_argv
from ferris_devcluster.node.volumes import VolumeError, materialize, mounts_for

log = logging.getLogger("process-node")
PR_SET_PDEATHSIG = 1
KILL_GRACE_DEFAULT = 5.0


class Host(Protocol):
    """What a worker needs from its node: where to keep files, which images run what, and the
    API calls a kubelet makes for a pod."""

    state_dir: Path
    images: dict[str, list[str]]
    api_port: int

    def fetch(self, namespace: str, kind: str, name: str) -> dict[str, Any] | None: ...
    def request_token(self, pod: dict[str, Any], sa: str, audience: str | None, expiration: int) -> str: ...
    def patch_status(self, pod: dict[str, Any], status: dict[str, Any]) -> None: ...
    def finalize_deletion(self, pod: dict[str, Any]) -> None: ...
    def pod_done(self, uid: str) -> None: ...


def _die_with_parent() -> None:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class ContainerProcess:
    def __init__(self, name: str, image: str, process: subprocess.Popen[bytes], termination_file: Path) -> None:
        self.name = name
        self.image = image
        self.process = process
        self.termination_file = termination_file
        self.started_at = pod_status.now()


def pod_dir(state_dir: Path, pod: dict[str, Any]) -> Path:
    meta = pod["metadata"]
    return state_dir / "pods" / f"{meta['namespace']}_{meta['name']}_{meta['uid']}"


def started_here(state_dir: Path, pod: dict[str, Any]) -> bool:
    """This node started a container of the pod (what a kubelet's runtime would remember): the
    container's spec is written before its process starts."""
    return any(pod_dir(state_dir, pod).glob("*.spec.json"))


class PodWorker(threading.Thread):
    """Runs one pod from bind to its terminal status."""

    def __init__(self, node: Host, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        super().__init__(name=f"pod-{meta['namespace']}/{meta['name']}", daemon=True)
        self.node = node
        self.pod = pod
        self.stop_reason: str | None = None
        self.stop_event = threading.Event()
        self.dir = pod_dir(node.state_dir, pod)
        self.log_dir = node.state_dir / "logs" / meta["namespace"] / meta["name"]

    def update(self, pod: dict[str, Any]) -> None:
        self.pod = pod
        if pod["metadata"].get("deletionTimestamp"):
            self.request_stop("deleted")

    def request_stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
        self.stop_event.set()

    def fetch(self, kind: str, name: str) -> dict[str, Any] | None:
        return self.node.fetch(self.pod["metadata"]["namespace"], kind, name)

    def run(self) -> None:
        start_time = pod_status.now()
        started = time.monotonic()
        try:
            results, reason = self._run_pod(start_time, started)
        except Exception as exc:
            log.exception("pod %s failed in the node", self.name)
            results, reason = [], ("NodeError", str(exc))
        if results or reason:
            self.node.patch_status(
                self.pod,
                pod_status.terminated(
                    results, start_time, reason[0] if reason else None, reason[1] if reason else None
                ),
            )
        if self.stop_reason == "deleted" or self.pod["metadata"].get("deletionTimestamp"):
            self.node.finalize_deletion(self.pod)
        shutil.rmtree(self.dir / "volumes", ignore_errors=True)
        self.node.pod_done(self.pod["metadata"]["uid"])

    def _containers(self) -> list[tuple[str, str]]:
        return [(c["name"], c["image"]) for c in self.pod["spec"]["containers"]]

    def _wait_or_stop(self, seconds: float) -> bool:
        return self.stop_event.wait(seconds)

    def _run_pod(
        self, start_time: str, started: float
    ) -> tuple[list[pod_status.ContainerResult], tuple[str, str] | None]:
        spec = self.pod["spec"]
        # Images: an image missing from the table never starts, as on a node that cannot pull it.
        for container in spec.get("initContainers", []) + spec["containers"]:
            if (
                resolve_argv(self.node.images, container["image"], container.get("command"), container.get("args"))
                is None
            ):
                message = f'Failed to pull image "{container["image"]}": not in the process node\'s image table'
                self.node.patch_status(
                    self.pod, pod_status.waiting(self._containers(), "ErrImagePull", message, start_time)
                )
                if self._wait_or_stop(3):
                    return [], None
                backoff = f'Back-off pulling image "{container["image"]}"'
                self.node.patch_status(
                    self.pod, pod_status.waiting(self._containers(), "ImagePullBackOff", backoff, start_time)
                )
                self.stop_event.wait()
                return [], None
        # Volumes and env: wait, as a kubelet does, until what they reference exists.
        while True:
            try:
                volume_paths = materialize(
                    self.pod, self.dir, self.fetch, lambda sa, aud, exp: self.node.request_token(self.pod, sa, aud, exp)
                )
                for container in spec.get("initContainers", []) + spec["containers"]:
                    resolve_env(self.pod, container, self.fetch)
                break
            except (VolumeError, EnvError) as exc:
                reason = "CreateContainerConfigError" if isinstance(exc, EnvError) else "ContainerCreating"
                self.node.patch_status(self.pod, pod_status.waiting(self._containers(), reason, str(exc), start_time))
                if self._wait_or_stop(2):
                    return [], None
        deadline = spec.get("activeDeadlineSeconds")
        for container in spec.get("initContainers") or []:
            proc = self._start(container, volume_paths)
            code = self._wait([proc], started, deadline)
            if code is not None:
                return [self._result(proc)], code
            if proc.process.returncode != 0:
                return [self._result(proc)], None
        procs = [self._start(c, volume_paths) for c in spec["containers"]]
        self.node.patch_status(
            self.pod, pod_status.running([(p.name, p.image, p.started_at) for p in procs], start_time)
        )
        stopped = self._wait(procs, started, deadline)
        return [self._result(p) for p in procs], stopped

    def _start(self, container: dict[str, Any], volume_paths: dict[str, Path]) -> ContainerProcess:
        pod = self.pod
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOSTNAME": pod["metadata"]["name"],
            "HOME": "/root",
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(self.node.api_port),
        }
        env.update(resolve_env(pod, container, self.fetch))
        argv = resolve_argv(self.node.images, container["image"], container.get("command"), container.get("args"))
        assert argv is not None
        mounts = mounts_for(pod, container, volume_paths)
        termination_file = self.dir / "termination" / container["name"]
        termination_file.parent.mkdir(parents=True, exist_ok=True)
        termination_file.write_bytes(b"")
        termination_path = container.get("terminationMessagePath", "/dev/termination-log")
        spec = {
            "argv": argv,
            "workingDir": container.get("workingDir"),
            "preserve": image_roots(),
            "mounts": [{"source": m.source, "target": m.target, "readOnly": m.read_only} for m in mounts]
            + [{"source": str(termination_file), "target": termination_path, "readOnly": False}],
        }
        spec_file = self.dir / f"{container['name']}.spec.json"
        spec_file.write_text(json.dumps(spec))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / f"{container['name']}.log", "ab") as out:
            process = subprocess.Popen(
                [
                    "unshare",
                    "--mount",
                    "--propagation",
                    "private",
                    sys.executable,
                    "-I",
                    "-m",
                    "ferris_devcluster.node.podexec",
                    str(spec_file),
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        return ContainerProcess(container["name"], container["image"], process, termination_file)

    def _wait(self, procs: list[ContainerProcess], started: float, deadline: int | None) -> tuple[str, str] | None:
        """Wait until every process exits; stop them on deletion or deadline. Returns a pod-level reason."""
        while any(p.process.poll() is None for p in procs):
            if deadline is not None and time.monotonic() - started > deadline:
                self._kill(procs)
                return (
                    "DeadlineExceeded",
                    f"Pod was active on the node longer than the specified deadline ({deadline}s)",
                )
            if self.stop_event.wait(0.1):
                self._kill(procs)
                return None
        return None

    def _kill(self, procs: list[ContainerProcess]) -> None:
        grace = self.pod["spec"].get("terminationGracePeriodSeconds")
        grace = KILL_GRACE_DEFAULT if grace is None else min(float(grace), KILL_GRACE_DEFAULT)
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.process.pid, signal.SIGTERM)
        end = time.monotonic() + grace
        while time.monotonic() < end and any(p.process.poll() is None for p in procs):
            time.sleep(0.05)
        for p in procs:
            if p.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.process.pid, signal.SIGKILL)
                p.process.wait()

    def _result(self, proc: ContainerProcess) -> pod_status.ContainerResult:
        code = proc.process.wait()
        if code < 0:  # killed by a signal: report as a container runtime would
            code = 128 - code
        try:
            message = proc.termination_file.read_text(errors="replace")[:4096]
        except OSError:
            message = ""
        return pod_status.ContainerResult(proc.name, proc.image, proc.started_at, pod_status.now(), code, message)
