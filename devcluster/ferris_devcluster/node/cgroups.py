"""A memory cgroup per container on a cgroup v1 host: the container's limit is set on a parent
cgroup the node owns, so that after the container is gone the node can still tell whether it
hit its limit (on such a host the runtime does not report OOMKilled).

Layout: ``/sys/fs/cgroup/<controller>/<node>/<container>``; podman makes the container's own
cgroup below it (and conmon's, in the same parent).
"""

from __future__ import annotations

import contextlib
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

    def create(self, container: str, limit_bytes: int) -> None:
        path = self.root / "memory" / self.node_group / container
        path.mkdir(parents=True, exist_ok=True)
        (path / "memory.limit_in_bytes").write_text(str(limit_bytes))
        swap = path / "memory.memsw.limit_in_bytes"
        if swap.exists():  # no swap beyond the limit, as a kubelet sets it
            swap.write_text(str(limit_bytes))

    def hit_limit(self, container: str) -> bool:
        try:
            return int((self.root / "memory" / self.node_group / container / "memory.failcnt").read_text()) > 0
        except (OSError, ValueError):
            return False

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
