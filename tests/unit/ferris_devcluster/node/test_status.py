"""The process node's pod status."""

from __future__ import annotations

from ferris_devcluster.node import status


def test_terminated_status_reads_like_a_kubelet() -> None:
    ok = status.ContainerResult("main", "img", "t0", "t1", 0)
    bad = status.ContainerResult("side", "img", "t0", "t1", 3)
    assert status.terminated([ok], "t0")["phase"] == "Succeeded"
    failed = status.terminated([ok, bad], "t0")
    assert failed["phase"] == "Failed"
    assert failed["containerStatuses"][1]["state"]["terminated"]["reason"] == "Error"
    deadline = status.terminated([ok], "t0", "DeadlineExceeded", "too long")
    assert deadline["phase"] == "Failed" and deadline["reason"] == "DeadlineExceeded"
