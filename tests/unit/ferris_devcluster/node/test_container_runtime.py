"""The container node's clean-up of containers whose cluster is gone."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, cast

from ferris_devcluster.node.container_runtime import STATE_LABEL, clear_orphans
from ferris_devcluster.podman import Podman


class FakePodman:
    def __init__(self, listing: str) -> None:
        self.listing = listing
        self.calls: list[tuple[str, ...]] = []

    def run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        self.calls.append(args)
        return subprocess.CompletedProcess(list(args), 0, self.listing if args[0] == "ps" else "", "")


def test_only_containers_whose_cluster_folder_is_gone_are_removed(tmp_path: Path) -> None:
    podman = FakePodman(f"aaa {tmp_path}\nbbb {tmp_path / 'gone'}\nccc /no/such/cluster/node\n")
    clear_orphans(cast(Podman, cast(Any, podman)))
    assert podman.calls[0][:4] == ("ps", "-a", "--filter", f"label={STATE_LABEL}")  # never another's containers
    assert podman.calls[1] == ("rm", "--force", "--time", "0", "bbb", "ccc")


def test_nothing_to_remove_calls_nothing_more(tmp_path: Path) -> None:
    podman = FakePodman(f"aaa {tmp_path}\n")
    clear_orphans(cast(Podman, cast(Any, podman)))
    assert len(podman.calls) == 1
