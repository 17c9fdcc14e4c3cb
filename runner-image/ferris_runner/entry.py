"""The runner's console script, light on purpose: the runner is its container's first process,
for which the kernel drops a signal it set no handler for, and its imports take a while. A
SIGTERM then (the run cancelled or deleted as its pod starts) would be lost and the run's
scripts would start anyway. The handler comes first and ends the runner at once, before any
step; ``main`` replaces it with the one that passes SIGTERM on to a running script."""

from __future__ import annotations

import signal
from types import FrameType

SIGNAL_EXIT = 128  # a process ended by signal N exits with 128 + N


def _exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(SIGNAL_EXIT + signum)


def runner() -> int:
    signal.signal(signal.SIGTERM, _exit)
    from ferris_runner.main import main  # after the handler (see above)

    return main()
