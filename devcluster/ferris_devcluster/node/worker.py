"""The container worker of the process node: runs one pod's containers as local processes in a
private mount namespace, from bind to the pod's terminal status, as a kubelet would."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from ferris_devcluster.node import status as pod_status
from ferris_devcluster.node.envvars import EnvError, resolve_env
from ferris_devcluster.node.podman_run import ContainerConfigError
from ferris_devcluster.node.runtime import Launch, Runtime, Started
from ferris_devcluster.node.volumes import Mount, VolumeError, apply_fs_group, materialize, mounts_for

log = logging.getLogger("process-node")
GRACE_DEFAULT = 30.0  # a pod's terminationGracePeriodSeconds when it sets none


class Host(Protocol):
    """What a worker needs from its node: where to keep files, the container runtime, and the
    API calls a kubelet makes for a pod."""

    state_dir: Path
    runtime: Runtime
    api_port: int

    def fetch(self, namespace: str, kind: str, name: str) -> dict[str, Any] | None: ...
    def request_token(self, pod: dict[str, Any], sa: str, audience: str | None, expiration: int) -> str: ...
    def patch_status(self, pod: dict[str, Any], status: dict[str, Any]) -> None: ...
    def finalize_deletion(self, pod: dict[str, Any]) -> None: ...
    def pod_done(self, uid: str) -> None: ...


class ContainerProcess:
    def __init__(self, name: str, image: str, started: Started, termination_file: Path) -> None:
        self.name = name
        self.image = image
        self.started = started
        self.termination_file = termination_file
        self.started_at = pod_status.now()


def pod_dir(state_dir: Path, pod: dict[str, Any]) -> Path:
    meta = pod["metadata"]
    return state_dir / "pods" / f"{meta['namespace']}_{meta['name']}_{meta['uid']}"


def started_here(state_dir: Path, pod: dict[str, Any]) -> bool:
    """This node started a container of the pod (what a kubelet's runtime would remember): a
    marker is written before the container starts."""
    return any(pod_dir(state_dir, pod).glob("*.started"))


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
            if not self.node.runtime.pullable(container["image"]):
                message = f'Failed to pull image "{container["image"]}": not in the node\'s local images'
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
                    self.node.runtime.check(self.pod, container)
                break
            except (VolumeError, EnvError, ContainerConfigError) as exc:
                reason = "ContainerCreating" if isinstance(exc, VolumeError) else "CreateContainerConfigError"
                self.node.patch_status(self.pod, pod_status.waiting(self._containers(), reason, str(exc), start_time))
                if self._wait_or_stop(2):
                    return [], None
        apply_fs_group(self.pod, volume_paths)
        deadline = spec.get("activeDeadlineSeconds")
        for container in spec.get("initContainers") or []:
            proc = self._start(container, volume_paths)
            code = self._wait([proc], started, deadline)
            if code is not None:
                return [self._result(proc)], code
            result = self._result(proc)
            if result.exit_code != 0:
                return [result], None
        procs = [self._start(c, volume_paths) for c in spec["containers"]]
        self.node.patch_status(
            self.pod, pod_status.running([(p.name, p.image, p.started_at) for p in procs], start_time)
        )
        stopped = self._wait(procs, started, deadline)
        return [self._result(p) for p in procs], stopped

    def _start(self, container: dict[str, Any], volume_paths: dict[str, Path]) -> ContainerProcess:
        pod = self.pod
        env = {
            "HOSTNAME": pod["metadata"]["name"],
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(self.node.api_port),
        }
        env.update(resolve_env(pod, container, self.fetch))
        termination_file = self.dir / "termination" / container["name"]
        termination_file.parent.mkdir(parents=True, exist_ok=True)
        termination_file.write_bytes(b"")
        termination_file.chmod(0o666)  # the container writes it as whichever user it runs as
        termination_path = container.get("terminationMessagePath", "/dev/termination-log")
        mounts = [*mounts_for(pod, container, volume_paths), Mount(str(termination_file), termination_path, False)]
        self.log_dir.mkdir(parents=True, exist_ok=True)
        # Written before the container starts: after a restart, the node knows it ran this pod.
        (self.dir / f"{container['name']}.started").write_text(pod_status.now())
        launch = Launch(pod, container, env, mounts, self.dir, self.log_dir / f"{container['name']}.log")
        started = self.node.runtime.start(launch)
        return ContainerProcess(container["name"], container["image"], started, termination_file)

    def _wait(self, procs: list[ContainerProcess], started: float, deadline: int | None) -> tuple[str, str] | None:
        """Wait until every process exits; stop them on deletion or deadline. Returns a pod-level reason."""
        while any(p.started.running() for p in procs):
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
        """SIGTERM, then SIGKILL after the pod's grace period (or the runtime's cap)."""
        grace = self.pod["spec"].get("terminationGracePeriodSeconds")
        grace = GRACE_DEFAULT if grace is None else float(grace)
        cap = self.node.runtime.max_grace
        if cap is not None:
            grace = min(grace, cap)
        for p in procs:
            p.started.terminate()
        end = time.monotonic() + grace
        while time.monotonic() < end and any(p.started.running() for p in procs):
            time.sleep(0.05)
        for p in procs:
            if p.started.running():
                p.started.kill()

    def _result(self, proc: ContainerProcess) -> pod_status.ContainerResult:
        end = proc.started.finish()
        try:
            message = proc.termination_file.read_text(errors="replace")[:4096]
        except OSError:
            message = ""
        return pod_status.ContainerResult(
            proc.name, proc.image, proc.started_at, pod_status.now(), end.code, message, end.reason
        )
