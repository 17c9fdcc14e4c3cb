"""`ferris-devcluster demo`, as a new user runs it: its story, and nothing left behind however it stops."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.cluster
DEVCLUSTER = str(Path(sys.executable).parent / "ferris-devcluster")


def processes_under(directory: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline", "environ"]):
        try:
            text = " ".join(process.info["cmdline"] or []) + " ".join((process.info["environ"] or {}).values())
        except (psutil.Error, TypeError):
            continue
        if directory in text and process.pid != os.getpid():
            found.append(process)
    return found


def test_demo_keep_tells_its_story_and_sigterm_leaves_nothing_behind() -> None:
    demo = subprocess.Popen(
        [DEVCLUSTER, "demo", "--keep"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    try:
        assert demo.stdout is not None
        deadline = time.monotonic() + 300
        for line in demo.stdout:
            lines.append(line)
            if line.startswith("stop it with: kill"):
                break
            assert time.monotonic() < deadline, "".join(lines[-40:])
        story = "".join(lines)
        assert "demo succeeded" in story, story[-4000:]
        assert "DB PASS: ****" in story and "DB PASS: supersecretpas$" in story  # masked, then the opt-out
        assert "No resources found in ferris-demo namespace." in story  # the source Secrets were ingested
        match = re.search(r"KUBECONFIG=(\S+)/cluster/admin.kubeconfig", story)
        assert match, story
        stack_dir = match.group(1)
        assert Path(stack_dir).is_dir() and processes_under(stack_dir), "the kept stack is not running"
        demo.send_signal(signal.SIGTERM)
        demo.wait(timeout=120)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
    deadline = time.monotonic() + 30
    while processes_under(stack_dir) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not processes_under(stack_dir), [p.info["cmdline"] for p in processes_under(stack_dir)]
    assert not Path(stack_dir).exists(), f"{stack_dir} was left behind"
