"""The process node is its own scheduler: pending pods wait here, oldest first, and are bound to
the node while it has a free slot and is not cordoned. A node has a capacity: a burst of Jobs
queues instead of starting a thousand processes."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

log = logging.getLogger("process-node")


class Binder:
    def __init__(self, core: client.CoreV1Api, node_name: str, max_pods: int, running: Callable[[], int]) -> None:
        self.core = core
        self.node_name = node_name
        self.max_pods = max_pods
        self.running = running  # pods this node runs now
        self.unbound: dict[str, dict[str, Any]] = {}  # pods waiting for a free slot
        self.binding: set[str] = set()  # bound, their worker not started yet
        self.cordoned = False  # Node spec.unschedulable (`kubectl cordon`): bind nothing new
        self.lock = threading.Lock()

    def offer(self, pod: dict[str, Any]) -> None:
        with self.lock:
            self.unbound[pod["metadata"]["uid"]] = pod
        self.schedule()

    def withdraw(self, uid: str) -> None:
        """The pod was deleted, or its worker started: it no longer waits."""
        with self.lock:
            self.unbound.pop(uid, None)
            self.binding.discard(uid)

    def set_cordoned(self, cordoned: bool) -> None:
        if cordoned != self.cordoned:
            log.info("node %s", "cordoned" if cordoned else "uncordoned")
            self.cordoned = cordoned
            self.schedule()

    def schedule(self) -> None:
        """Bind waiting pods, oldest first, while fewer than ``max_pods`` run here."""
        while True:
            with self.lock:
                busy = self.running() + len(self.binding)
                if self.cordoned or not self.unbound or busy >= self.max_pods:
                    return
                uid = min(self.unbound, key=lambda u: self.unbound[u]["metadata"].get("creationTimestamp", ""))
                pod = self.unbound.pop(uid)
                self.binding.add(uid)
            if not self._bind(pod):
                with self.lock:
                    self.binding.discard(uid)

    def _bind(self, pod: dict[str, Any]) -> bool:
        meta = pod["metadata"]
        body = client.V1Binding(
            metadata=client.V1ObjectMeta(name=meta["name"]),
            target=client.V1ObjectReference(kind="Node", name=self.node_name, api_version="v1"),
        )
        try:
            self.core.create_namespaced_pod_binding(meta["name"], meta["namespace"], body, _preload_content=False)
            return True
        except ApiException as exc:
            if exc.status not in (404, 409):
                log.warning("binding %s/%s failed: %s", meta["namespace"], meta["name"], exc.reason)
            return False
