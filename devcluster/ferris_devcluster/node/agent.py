"""The process node: registers a Node, binds pending pods to it (binding.py), and runs each
pod's containers as local processes (worker.py), writing pod status as a kubelet. This module
is the watch that ties them together and the API calls the workers make."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from ferris_devcluster.kube import RawWatch
from ferris_devcluster.node import registration
from ferris_devcluster.node import status as pod_status
from ferris_devcluster.node.binding import Binder
from ferris_devcluster.node.runtime import Runtime
from ferris_devcluster.node.volumes import VolumeError
from ferris_devcluster.node.worker import PodWorker, started_here

log = logging.getLogger("process-node")


class Node:
    def __init__(
        self,
        api: client.ApiClient,
        name: str,
        state_dir: Path,
        runtime: Runtime,
        api_port: int,
        max_pods: int = 16,
    ) -> None:
        self.api = api
        self.core = client.CoreV1Api(api)
        self.name = name
        self.state_dir = state_dir
        self.runtime = runtime
        self.api_port = api_port
        self.workers: dict[str, PodWorker] = {}
        self.seen: set[str] = set()  # pods this run of the node has taken up
        self.lock = threading.Lock()
        self.binder = Binder(self.core, name, max_pods, lambda: len(self.workers))
        self.stopping = threading.Event()

    # ---- the watch ------------------------------------------------------------------------
    def follow_cordon(self) -> None:
        """Honour `kubectl cordon`: read the Node's spec.unschedulable twice a second, and bind
        what waits once it is uncordoned."""
        while not self.stopping.wait(0.5):
            cordoned = registration.cordoned(self.core, self.name)
            if cordoned is not None:
                self.binder.set_cordoned(cordoned)

    def run(self) -> None:
        registration.register(self.core, self.name)
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
                self.binder.offer(pod)
            return
        if node_name != self.name:
            return
        uid = meta["uid"]
        finished = (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
        lost = False
        with self.lock:
            worker = self.workers.get(uid)
            if worker is None and not finished:
                if uid not in self.seen and (started_here(self.state_dir, pod) or pod_status.started(pod)):
                    lost = True  # started by this node before it restarted: its processes died with it
                else:
                    worker = PodWorker(self, pod)
                    self.workers[uid] = worker
                    worker.start()
            self.seen.add(uid)
        if lost:
            self.patch_status(pod, pod_status.lost_in_restart(pod))
            return
        self.binder.withdraw(uid)  # after the worker counts as running: no slot is given twice
        if worker is None:
            if meta.get("deletionTimestamp"):
                self.finalize_deletion(pod)
            return
        worker.update(pod)

    def forget(self, pod: dict[str, Any]) -> None:
        self.binder.withdraw(pod["metadata"]["uid"])
        with self.lock:
            self.seen.discard(pod["metadata"]["uid"])
            worker = self.workers.pop(pod["metadata"]["uid"], None)
        if worker:
            worker.request_stop("deleted")

    def pod_done(self, uid: str) -> None:
        """A worker ended: its slot is free for the next waiting pod."""
        with self.lock:
            self.workers.pop(uid, None)
        self.binder.schedule()

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
        deadline = time.monotonic() + 45  # the longest grace period a container gets, and some
        for worker in workers:
            worker.join(timeout=max(0.0, deadline - time.monotonic()))
        self.runtime.close()

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
            if exc.status >= 500 or exc.status == 429:
                raise VolumeError(f"cannot read {kind} {name!r} yet: the API server answered {exc.status}") from exc
            raise
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            # The API server restarting: the worker tries again, as a kubelet does.
            raise VolumeError(f"cannot read {kind} {name!r} yet: the API server did not answer") from exc
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

    def patch_status(self, pod: dict[str, Any], status: dict[str, Any], patience: float = 120.0) -> None:
        """Write a pod's status; while the API server cannot be reached (a restart), try again
        for ``patience`` seconds, as a kubelet does, so that a pod's end is never lost."""
        meta = pod["metadata"]
        deadline = time.monotonic() + patience
        while True:
            try:
                self.core.patch_namespaced_pod_status(meta["name"], meta["namespace"], {"status": status})
                return
            except ApiException as exc:
                if exc.status == 404:
                    return
                if exc.status < 500 and exc.status != 429:
                    log.warning("status of %s/%s: %s", meta["namespace"], meta["name"], exc.reason)
                    return
                problem = str(exc.reason)
            except Exception as exc:  # connection refused or reset: the API server restarting
                problem = type(exc).__name__
            if time.monotonic() > deadline or self.stopping.is_set():
                log.warning("status of %s/%s not written: %s", meta["namespace"], meta["name"], problem)
                return
            time.sleep(1)
