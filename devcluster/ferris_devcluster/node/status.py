"""Pure builders of pod status, written the way a kubelet writes it."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ContainerResult:
    name: str
    image: str
    started_at: str
    finished_at: str
    exit_code: int
    message: str = ""
    reason: str | None = None  # None: Completed or Error from the exit code

    def state(self) -> dict[str, Any]:
        terminated: dict[str, Any] = {
            "exitCode": self.exit_code,
            "reason": self.reason or ("Completed" if self.exit_code == 0 else "Error"),
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
        }
        if self.message:
            terminated["message"] = self.message
        return {"terminated": terminated}


def _condition(kind: str, status: bool, reason: str | None = None) -> dict[str, Any]:
    condition: dict[str, Any] = {"type": kind, "status": "True" if status else "False", "lastTransitionTime": now()}
    if reason:
        condition["reason"] = reason
    return condition


def _container_status(name: str, image: str, state: dict[str, Any], ready: bool, restarts: int = 0) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "imageID": f"process-node://{image}",
        "ready": ready,
        "started": "running" in state,
        "restartCount": restarts,
        "state": state,
    }


def waiting(containers: list[tuple[str, str]], reason: str, message: str, start_time: str) -> dict[str, Any]:
    return {
        "phase": "Pending",
        "startTime": start_time,
        "hostIP": "127.0.0.1",
        "conditions": [
            _condition("PodScheduled", True),
            _condition("Initialized", True),
            _condition("ContainersReady", False, "ContainersNotReady"),
            _condition("Ready", False, "ContainersNotReady"),
        ],
        "containerStatuses": [
            _container_status(name, image, {"waiting": {"reason": reason, "message": message}}, False)
            for name, image in containers
        ],
    }


def running(
    containers: list[tuple[str, str, str]], start_time: str, restarts: dict[str, int] | None = None
) -> dict[str, Any]:
    restarts = restarts or {}
    return {
        "phase": "Running",
        "startTime": start_time,
        "hostIP": "127.0.0.1",
        "hostIPs": [{"ip": "127.0.0.1"}],
        "podIP": "127.0.0.1",
        "podIPs": [{"ip": "127.0.0.1"}],
        "conditions": [
            _condition("PodScheduled", True),
            _condition("Initialized", True),
            _condition("ContainersReady", True),
            _condition("Ready", True),
        ],
        "containerStatuses": [
            _container_status(name, image, {"running": {"startedAt": started}}, True, restarts.get(name, 0))
            for name, image, started in containers
        ],
    }


def terminated(
    results: list[ContainerResult], start_time: str, reason: str | None = None, message: str | None = None
) -> dict[str, Any]:
    succeeded = reason is None and all(r.exit_code == 0 for r in results)
    status: dict[str, Any] = {
        "phase": "Succeeded" if succeeded else "Failed",
        "startTime": start_time,
        "hostIP": "127.0.0.1",
        "podIP": "127.0.0.1",
        "conditions": [
            _condition("PodScheduled", True),
            _condition("Initialized", True),
            _condition("ContainersReady", False, "PodCompleted"),
            _condition("Ready", False, "PodCompleted"),
        ],
        "containerStatuses": [_container_status(r.name, r.image, r.state(), False) for r in results],
    }
    if reason:
        status["reason"] = reason
        status["message"] = message or reason
    return status


def started(pod: dict[str, Any]) -> bool:
    """The pod's containers were started (by a kubelet that may no longer run them)."""
    status = pod.get("status") or {}
    return status.get("phase") == "Running" or any(
        "running" in (c.get("state") or {}) for c in status.get("containerStatuses") or []
    )


def lost_in_restart(pod: dict[str, Any]) -> dict[str, Any]:
    """A pod whose containers were running when the node went down and are gone after it came
    back: Failed, each container terminated as a kubelet reports a container it cannot find
    (ContainerStatusUnknown, exit code 137). Never started again: restartPolicy Never."""
    status = pod.get("status") or {}
    running = {c["name"]: (c.get("state") or {}).get("running", {}) for c in status.get("containerStatuses") or []}
    results = [
        ContainerResult(
            c["name"],
            c["image"],
            running.get(c["name"], {}).get("startedAt") or status.get("startTime") or now(),
            now(),
            137,
            "The container could not be located when the pod was terminated: its node restarted",
            "ContainerStatusUnknown",
        )
        for c in pod["spec"]["containers"]
    ]
    return terminated(results, status.get("startTime") or now())
