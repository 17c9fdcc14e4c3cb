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


def test_a_pod_lost_in_a_node_restart_is_failed_as_a_kubelet_reports_a_container_it_cannot_find() -> None:
    pod = {
        "spec": {"containers": [{"name": "runner", "image": "ferris-runner:1"}]},
        "status": {
            "phase": "Running",
            "startTime": "2026-11-30T10:00:00Z",
            "containerStatuses": [{"name": "runner", "state": {"running": {"startedAt": "2026-11-30T10:00:01Z"}}}],
        },
    }
    assert status.started(pod) and not status.started({"status": {"phase": "Pending"}})
    lost = status.lost_in_restart(pod)
    [container] = lost["containerStatuses"]
    terminated = container["state"]["terminated"]
    assert lost["phase"] == "Failed" and terminated["exitCode"] == 137
    assert terminated["reason"] == "ContainerStatusUnknown" and terminated["startedAt"] == "2026-11-30T10:00:01Z"
    assert "its node restarted" in terminated["message"]
