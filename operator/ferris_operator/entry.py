"""The console scripts of the operator and the server, light on purpose.

In its container, each is the first process: the init of a PID namespace, for which the kernel
drops a signal the process set no handler for. The programs' imports take about a second
(longer on a busy node), and they then wait for their database and migrate: a SIGTERM meanwhile
(a rollout, a scale-down) would be lost, and the pod would hold its place for its whole grace
period. So the handler comes first, ending the process at once, and the program is imported
after it; the serving loop installs handlers of its own once it serves."""

from __future__ import annotations

import signal
from types import FrameType

SIGNAL_EXIT = 128  # a process ended by signal N exits with 128 + N


def _exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(SIGNAL_EXIT + signum)


def operator() -> None:
    signal.signal(signal.SIGTERM, _exit)
    from ferris_operator.main import main  # after the handler (see above)

    main()


def server() -> None:
    signal.signal(signal.SIGTERM, _exit)
    from ferris_operator.server.main import main  # after the handler (see above)

    main()
