"""What the pod worker asks of a container runtime: the process runtime (host processes, the
fast mode) and the container runtime (podman + runc, real images) both answer it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ferris_devcluster.node.volumes import Mount


@dataclass(frozen=True)
class Launch:
    """One container of a pod, ready to start: its environment resolved, its volumes written."""

    pod: dict[str, Any]
    container: dict[str, Any]
    env: dict[str, str]
    mounts: list[Mount]  # the pod's volumes and the termination message file
    pod_dir: Path
    log_file: Path


@dataclass(frozen=True)
class Exit:
    code: int  # 128 + signal for a container killed by one, as runtimes report it
    reason: str | None = None  # OOMKilled; None: Completed or Error from the code


class Started(Protocol):
    def running(self) -> bool: ...
    def terminate(self) -> None: ...  # SIGTERM to the container's first process
    def kill(self) -> None: ...  # SIGKILL, after the grace period
    def finish(self) -> Exit: ...  # waits for the end, then releases what the container held


class Runtime(Protocol):
    max_grace: float | None  # the node's own cap on a pod's grace period (None: the pod's)

    def pullable(self, image: str) -> bool: ...
    def check(self, pod: dict[str, Any], container: dict[str, Any]) -> None: ...  # ContainerConfigError
    def start(self, launch: Launch) -> Started: ...
    def close(self) -> None: ...
