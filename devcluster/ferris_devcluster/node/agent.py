"""The process node: registers a Node, binds pending pods to it, and runs each pod's
containers as local processes in a private mount namespace, writing pod status as a kubelet.
"""

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
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from ferris_devcluster.kube import RawWatch
from ferris_devcluster.node import status as pod_status
from ferris_devcluster.node.envvars import EnvError, resolve_env
from ferris_devcluster.node.images import image_roots, resolve_argv
from ferris_devcluster.node.volumes import VolumeError, materialize, mounts_for

log = logging.getLogger("process-node")
PR_SET_PDEATHSIG = 1
KILL_GRACE_DEFAULT = 5.0


def _die_with_parent() -> None:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Node:
    def __init__(
        self,
        api: client.ApiClient,
        name: str,
        state_dir: Path,
        images: dict[str, list[str]],
        api_port: int,
        max_pods: int = 16,
    ) -> None:
        self.api = api
        self.core = client.CoreV1Api(api)
        self.name = name
        self.state_dir = state_dir
        self.images = images
        self.api_port = api_port
        self.workers: dict[str, PodWorker] = {}
        self.unbound: dict[str, dict[str, Any]] = {}  # pods waiting for a free slot
        self.binding: set[str] = set()  # bound, their worker not started yet
        self.max_pods = max_pods
        self.cordoned = False  # Node spec.unschedulable (`kubectl cordon`): bind nothing new
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    # ---- registration and the watch loop -------------------------------------------------
    def register(self) -> None:
        body = client.V1Node(
            metadata=client.V1ObjectMeta(
                name=self.name,
                labels={"kubernetes.io/hostname": self.name, "kubernetes.io/os": "linux", "type": "process-node"},
            )
        )
        with contextlib.suppress(ApiException):
            self.core.create_node(body)
        capacity = {"cpu": str(os.cpu_count() or 2), "memory": "16Gi", "pods": "1000"}
        self.core.patch_node_status(
            self.name,
            {
                "status": {
                    "capacity": capacity,
                    "allocatable": capacity,
                    "conditions": [
                        {
                            "type": "Ready",
                            "status": "True",
                            "reason": "ProcessNodeReady",
                            "message": "process node is running pods as local processes",
                            "lastHeartbeatTime": pod_status.now(),
                            "lastTransitionTime": pod_status.now(),
                        }
                    ],
                    "addresses": [
                        {"type": "InternalIP", "address": "127.0.0.1"},
                        {"type": "Hostname", "address": self.name},
                    ],
                    "nodeInfo": {
                        "kubeletVersion": "process-node",
                        "containerRuntimeVersion": "process://local",
                        "operatingSystem": "linux",
                        "architecture": "amd64",
                        "kernelVersion": os.uname().release,
                        "osImage": "process-node",
                        "kubeProxyVersion": "",
                        "machineID": "",
                        "systemUUID": "",
                        "bootID": "",
                    },
                }
            },
        )

    def follow_cordon(self) -> None:
        """This node is its own scheduler: honour `kubectl cordon` by reading the Node's
        spec.unschedulable twice a second, and bind what waits once it is uncordoned."""
        while not self.stopping.wait(0.5):
            try:
                response: Any = self.core.read_node(self.name, _preload_content=False)
                node = json.loads(response.data)
            except ApiException:
                continue
            cordoned = bool(node["spec"].get("unschedulable"))
            if cordoned != self.cordoned:
                log.info("node %s", "cordoned" if cordoned else "uncordoned")
                self.cordoned = cordoned
                self.schedule()

    def run(self) -> None:
        self.register()
        resource_version = ""
        while not self.stopping.is_set():
            try:
                if not resource_version:
                    response: Any = self.core.list_pod_for_all_namespaces(_preload_content=False)
                    pods = json.loads(response.data)
                    for pod in pods["items"]:
                        self.handle(pod)
                    resource_version = str(pods["metadata"].get("resourceVersion", ""))
                stream = RawWatch().stream(
                    self.core.list_pod_for_all_namespaces,
                    resource_version=resource_version,
                    timeout_seconds=30,
                    allow_watch_bookmarks=True,
                )
                for event in stream:
                    raw = event["object"]
                    resource_version = raw["metadata"].get("resourceVersion", resource_version)
                    if event["type"] == "BOOKMARK":
                        continue
                    if event["type"] == "DELETED":
                        self.forget(raw)
                    else:
                        self.handle(raw)
                    if self.stopping.is_set():
                        break
            except ApiException as exc:
                if exc.status == 410:
                    resource_version = ""
                else:
                    log.warning("watch failed: %s", exc.reason)
                    time.sleep(1)
            except Exception as exc:
                log.warning("watch error: %s", exc)
                resource_version = ""
                time.sleep(1)

    def handle(self, pod: dict[str, Any]) -> None:
        spec, meta = pod["spec"], pod["metadata"]
        node_name = spec.get("nodeName")
        if not node_name:
            if spec.get("schedulerName", "default-scheduler") == "default-scheduler" and not meta.get(
                "deletionTimestamp"
            ):
                with self.lock:
                    self.unbound[meta["uid"]] = pod
                self.schedule()
            return
        if node_name != self.name:
            return
        uid = meta["uid"]
        with self.lock:
            self.binding.discard(uid)
            worker = self.workers.get(uid)
            if worker is None:
                phase = (pod.get("status") or {}).get("phase")
                if phase in ("Succeeded", "Failed"):
                    if meta.get("deletionTimestamp"):
                        self.finalize_deletion(pod)
                    return
                worker = PodWorker(self, pod)
                self.workers[uid] = worker
                worker.start()
        worker.update(pod)

    def schedule(self) -> None:
        """Bind waiting pods, oldest first, while fewer than ``max_pods`` run here: a node has a
        capacity, and a burst of Jobs must queue rather than start a thousand processes."""
        while True:
            with self.lock:
                if self.cordoned or not self.unbound or len(self.workers) + len(self.binding) >= self.max_pods:
                    return
                uid = min(self.unbound, key=lambda u: self.unbound[u]["metadata"].get("creationTimestamp", ""))
                pod = self.unbound.pop(uid)
                self.binding.add(uid)
            if not self.bind(pod):
                with self.lock:
                    self.binding.discard(uid)

    def forget(self, pod: dict[str, Any]) -> None:
        with self.lock:
            self.unbound.pop(pod["metadata"]["uid"], None)
            self.binding.discard(pod["metadata"]["uid"])
            worker = self.workers.pop(pod["metadata"]["uid"], None)
        if worker:
            worker.request_stop("deleted")

    def bind(self, pod: dict[str, Any]) -> bool:
        meta = pod["metadata"]
        body = client.V1Binding(
            metadata=client.V1ObjectMeta(name=meta["name"]),
            target=client.V1ObjectReference(kind="Node", name=self.name, api_version="v1"),
        )
        try:
            self.core.create_namespaced_pod_binding(meta["name"], meta["namespace"], body, _preload_content=False)
            return True
        except ApiException as exc:
            if exc.status not in (404, 409):
                log.warning("binding %s/%s failed: %s", meta["namespace"], meta["name"], exc.reason)
            return False

    def finalize_deletion(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        with contextlib.suppress(ApiException):
            # Grace period and precondition both in the body: the API server reads the body.
            self.core.delete_namespaced_pod(
                meta["name"],
                meta["namespace"],
                body=client.V1DeleteOptions(
                    grace_period_seconds=0, preconditions=client.V1Preconditions(uid=meta["uid"])
                ),
            )

    def shutdown(self) -> None:
        self.stopping.set()
        with self.lock:
            workers = list(self.workers.values())
        for worker in workers:
            worker.request_stop("node shutdown")
        for worker in workers:
            worker.join(timeout=15)

    # ---- adapters for workers -------------------------------------------------------------
    def fetch(self, namespace: str, kind: str, name: str) -> dict[str, Any] | None:
        try:
            if kind == "Secret":
                obj: Any = self.core.read_namespaced_secret(name, namespace)
            else:
                obj = self.core.read_namespaced_config_map(name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        result: dict[str, Any] = self.api.sanitize_for_serialization(obj)
        return result

    def request_token(self, pod: dict[str, Any], sa: str, audience: str | None, expiration: int) -> str:
        meta = pod["metadata"]
        spec = client.V1TokenRequestSpec(
            audiences=[audience] if audience else [],
            expiration_seconds=max(expiration, 600),
            bound_object_ref=client.V1BoundObjectReference(
                kind="Pod", api_version="v1", name=meta["name"], uid=meta["uid"]
            ),
        )
        response: Any = self.core.create_namespaced_service_account_token(
            sa, meta["namespace"], client.AuthenticationV1TokenRequest(spec=spec)
        )
        return str(response.status.token)

    def patch_status(self, pod: dict[str, Any], status: dict[str, Any]) -> None:
        meta = pod["metadata"]
        try:
            self.core.patch_namespaced_pod_status(meta["name"], meta["namespace"], {"status": status})
        except ApiException as exc:
            if exc.status != 404:
                log.warning("status of %s/%s: %s", meta["namespace"], meta["name"], exc.reason)


class ContainerProcess:
    def __init__(self, name: str, image: str, process: subprocess.Popen[bytes], termination_file: Path) -> None:
        self.name = name
        self.image = image
        self.process = process
        self.termination_file = termination_file
        self.started_at = pod_status.now()


class PodWorker(threading.Thread):
    """Runs one pod from bind to its terminal status."""

    def __init__(self, node: Node, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        super().__init__(name=f"pod-{meta['namespace']}/{meta['name']}", daemon=True)
        self.node = node
        self.pod = pod
        self.stop_reason: str | None = None
        self.stop_event = threading.Event()
        self.dir = node.state_dir / "pods" / f"{meta['namespace']}_{meta['name']}_{meta['uid']}"
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
        with self.node.lock:
            self.node.workers.pop(self.pod["metadata"]["uid"], None)
        self.node.schedule()

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
