"""The container node's memory cgroups, on a directory laid out as cgroup v1."""

from __future__ import annotations

from pathlib import Path

from ferris_devcluster.node.cgroups import MemoryCgroups, v1_memory_available


def cgroup_root(tmp_path: Path) -> Path:
    for controller in ("memory", "pids", "cpu"):
        (tmp_path / controller).mkdir()
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712")
    return tmp_path


def test_the_limit_is_set_on_the_containers_parent(tmp_path: Path) -> None:
    root = cgroup_root(tmp_path)
    assert v1_memory_available(root)
    groups = MemoryCgroups("ferris-node-n1", root)
    groups.create("c1", 64 * 2**20)
    assert (root / "memory/ferris-node-n1/c1/memory.limit_in_bytes").read_text() == str(64 * 2**20)
    assert groups.parent("c1") == "/ferris-node-n1/c1"
    groups.create("c2", None)  # unlimited: below the node's cgroup all the same
    assert not (root / "memory/ferris-node-n1/c2/memory.limit_in_bytes").exists()


def test_removal_takes_every_controllers_tree_deepest_first(tmp_path: Path) -> None:
    root = cgroup_root(tmp_path)
    groups = MemoryCgroups("ferris-node-n1", root)
    for controller in ("memory", "pids", "cpu"):
        (root / controller / "ferris-node-n1" / "c1" / "conmon").mkdir(parents=True)
        (root / controller / "ferris-node-n1" / "c2" / "libpod-x").mkdir(parents=True)
    groups.remove("c1")
    assert not any((root / c / "ferris-node-n1" / "c1").exists() for c in ("memory", "pids", "cpu"))
    assert (root / "pids" / "ferris-node-n1" / "c2").exists()
    groups.remove_all()
    assert not any((root / c / "ferris-node-n1").exists() for c in ("memory", "pids", "cpu"))


def test_no_v1_memory_controller_is_seen(tmp_path: Path) -> None:
    assert not v1_memory_available(tmp_path)
