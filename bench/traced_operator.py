"""The operator under tracemalloc: SIGUSR1 writes what is allocated and still alive, by source
line, to $FERRIS_HEAP_REPORT (used by ``python -m bench.heap``)."""

from __future__ import annotations

import os
import signal
import tracemalloc
from types import FrameType

FRAMES = 8


def _row(stat: tracemalloc.Statistic, where: str) -> str:
    return f"{stat.size / 2**20:8.2f} MiB {stat.count:>8} blocks  {where}"


def _report(signum: int, frame: FrameType | None) -> None:
    snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
    total = sum(stat.size for stat in snapshot.statistics("filename"))
    lines = [f"traced and alive: {total / 2**20:.1f} MiB", "", "by file:"]
    lines += [_row(s, s.traceback[0].filename) for s in snapshot.statistics("filename")[:25]]
    lines += ["", "by line:"]
    lines += [_row(s, str(s.traceback[0])) for s in snapshot.statistics("lineno")[:25]]
    lines += ["", "by call path (largest 12):"]
    for stat in snapshot.statistics("traceback")[:12]:
        lines.append(_row(stat, ""))
        lines += [f"      {entry}" for entry in stat.traceback.format()]
    with open(os.environ["FERRIS_HEAP_REPORT"], "w") as out:
        out.write("\n".join(lines) + "\n")


def main() -> None:
    tracemalloc.start(FRAMES)
    signal.signal(signal.SIGUSR1, _report)
    from ferris_operator.main import main as operator_main

    operator_main()


if __name__ == "__main__":
    main()
