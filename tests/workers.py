"""Stopping a pytest-xdist session (`make test` runs two workers) without leaving a process behind.

Each worker starts its own PostgreSQL, control planes and operators, and tears them down at the
end of its session. Every pytest process turns its first SIGINT or SIGTERM into
KeyboardInterrupt, held back while a process is being stopped (``ferris_devcluster.interrupts``).
On an interrupt, xdist's controller tells its workers to exit and, 15 s later, execnet ends a
worker that is still busy with ``os._exit``: a worker stopping two clusters would then leave them
running. So:

- the controller passes SIGINT and SIGTERM on to its workers (Ctrl-C in a terminal reaches them
  too; the second one is ignored);
- a worker marks, by its pid, that its teardown is done, and the controller waits for those marks
  before it lets xdist end its workers.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

import psutil
import pytest

MARKS = "FERRIS_TEST_TEARDOWN_MARKS"
TEARDOWN_WAIT_SECONDS = 300.0


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def is_controller(config: pytest.Config) -> bool:
    return not is_worker(config) and bool(getattr(config.option, "numprocesses", None))


def configure_controller() -> None:
    # The workers inherit the folder's name through their environment.
    os.environ[MARKS] = tempfile.mkdtemp(prefix="ferris-test-marks-")
    signal.signal(signal.SIGTERM, _pass_on_and_interrupt)
    signal.signal(signal.SIGINT, _pass_on_and_interrupt)


_interrupted = False


def _pass_on_and_interrupt(signum: int, frame: FrameType | None) -> None:
    global _interrupted
    if _interrupted:
        return
    _interrupted = True
    for worker in psutil.Process().children():
        with contextlib.suppress(psutil.NoSuchProcess):
            worker.send_signal(signal.SIGTERM)
    raise KeyboardInterrupt(f"signal {signum}")


def report_torn_down() -> None:
    marks = os.environ.get(MARKS)
    if marks:
        Path(marks, str(os.getpid())).touch()


def wait_for_teardowns() -> None:
    """Until every live worker has marked its teardown done (at once after a normal run)."""
    marks = Path(os.environ[MARKS])
    deadline = time.monotonic() + TEARDOWN_WAIT_SECONDS
    while time.monotonic() < deadline:
        busy = [w for w in _live_workers() if not (marks / str(w.pid)).exists()]
        if not busy:
            return
        time.sleep(0.2)
    print(f"workers still tearing down after {TEARDOWN_WAIT_SECONDS:.0f} s", file=sys.stderr, flush=True)


def _live_workers() -> list[psutil.Process]:
    live = []
    for worker in psutil.Process().children():
        with contextlib.suppress(psutil.NoSuchProcess):
            if worker.status() != psutil.STATUS_ZOMBIE:
                live.append(worker)
    return live


def forget() -> None:
    shutil.rmtree(os.environ.pop(MARKS), ignore_errors=True)
