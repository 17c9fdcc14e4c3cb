"""A process of the local stack that never becomes ready is stopped before the error goes on:
no caller holds it yet, so nothing else would stop it."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferris_devcluster.ports import free_port
from ferris_devcluster.processes import Supervised
from ferris_devcluster.stack import _wait_ready


def test_a_process_that_never_becomes_ready_is_stopped(tmp_path: Path) -> None:
    process = Supervised("never-ready", ["sleep", "60"], tmp_path)
    with pytest.raises(RuntimeError, match="did not become ready"):
        _wait_ready(process, free_port(), timeout=0.5)
    assert not process.alive()
