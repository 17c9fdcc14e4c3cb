"""What `ferris run --wait` prints while a run goes on."""

from __future__ import annotations

from ferris_operator.cli.runs import progress_line


def test_a_queued_run_says_where_it_waits_and_a_running_one_its_steps() -> None:
    queued = {
        "metadata": {"name": "nightly-1"},
        "status": {
            "phase": "Pending",
            "progress": "0/1",
            "steps": [{"name": "main.py", "phase": "Pending"}],
            "conditions": [
                {
                    "type": "Ready",
                    "reason": "Queued",
                    "message": "waiting for Kueue to admit it: queue ferris, priority 9",
                }
            ],
        },
    }
    line = progress_line(queued)
    assert line.startswith("nightly-1: Pending 0/1 main.py[  ]") and line.endswith("queue ferris, priority 9)")
    running = {"metadata": {"name": "nightly-1"}, "status": {"phase": "Running", "progress": "0/1"}}
    assert progress_line(running) == "nightly-1: Running 0/1 "
