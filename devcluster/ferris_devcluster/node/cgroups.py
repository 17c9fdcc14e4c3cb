"""A memory cgroup per container on a cgroup v1 host: the container's limit is set on a parent
cgroup the node owns, whose OOM notification the node watches (on such a host the runtime
does not report OOMKilled, and the kernel kills one process, not the container).

Layout: ``/sys/fs/cgroup/<controller>/<node>/<container>``; podman makes the container's own
cgroup below it (and conmon's, in the same parent).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")


def v1_memory_available(root: Path = ROOT) -> bool:
    return (root / "memory" / "memory.limit_in_bytes").is_file()


class MemoryCgroups:
    def __init__(self, node_group: str, root: Path = ROOT) -> None:
        self.node_group = node_group
        self.root = root

    def parent(self, container: str) -> str:
        """The cgroup parent to give podman."""
        return f"/{self.node_group}/{container}"

    def create(self, container: str, limit_bytes: int | None) -> None:
        path = self.root / "memory" / self.node_group / container
        path.mkdir(parents=True, exist_ok=True)
        if limit_bytes is None:
            return
        (path / "memory.limit_in_bytes").write_text(str(limit_bytes))
        swap = path / "memory.memsw.limit_in_bytes"
        if swap.exists():  # no swap beyond the limit, as a kubelet sets it
            swap.write_text(str(limit_bytes))

    def watch_oom(self, container: str) -> OomWatch:
        return OomWatch(self.root / "memory" / self.node_group / container)

    def kill_container(self, container: str) -> None:
        """SIGKILL every process of the container's own cgroup (``libpod-*``, not conmon's):
        what ``memory.oom.group`` does in the kernel on a cgroup v2 host, where Kubernetes
        kills a container as a whole once the OOM killer picked one of its processes."""
        for tasks in (self.root / "memory" / self.node_group / container).glob("libpod-*/**/tasks"):
            with contextlib.suppress(OSError, ValueError):
                for pid in tasks.read_text().split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)

    def remove(self, container: str) -> None:
        for controller in self._controllers():
            _remove_tree(controller / self.node_group / container)

    def remove_all(self) -> None:
        for controller in self._controllers():
            _remove_tree(controller / self.node_group)

    def _controllers(self) -> list[Path]:
        return [p for p in self.root.iterdir() if p.is_dir()] if self.root.is_dir() else []


def _remove_tree(path: Path) -> None:
    """rmdir a cgroup and its children, deepest first (a cgroup directory is removed empty)."""
    if not path.is_dir():
        return
    for child in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            child.rmdir()
    with contextlib.suppress(OSError):
        path.rmdir()


class OomWatch:
    """The cgroup v1 OOM notification of one memory cgroup (an eventfd registered through
    ``cgroup.event_control``): it fires when the OOM killer runs in that cgroup or below."""

    def __init__(self, path: Path) -> None:
        self.eventfd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        control = os.open(path / "memory.oom_control", os.O_RDONLY | os.O_CLOEXEC)
        try:
            (path / "cgroup.event_control").write_text(f"{self.eventfd} {control}")
        finally:
            os.close(control)

    def wait(self, timeout: float) -> bool:
        """True once the OOM killer ran."""
        readable, _, _ = select.select([self.eventfd], [], [], timeout)
        if not readable:
            return False
        with contextlib.suppress(BlockingIOError):
            os.eventfd_read(self.eventfd)
        return True

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.eventfd)
