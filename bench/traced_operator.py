"""The operator under tracemalloc: SIGUSR1 writes what is allocated and still alive (from
start-up on, imports excepted), by source line, to $FERRIS_HEAP_REPORT (used by ``python -m
bench.heap``), then who holds the Kubernetes lists and objects still alive: the chain of
referrers of one of each, up to a module, a frame or an object of a named class."""

from __future__ import annotations

import gc
import os
import signal
import tracemalloc
from types import FrameType

FRAMES = 8
HOLDER_DEPTH = 6


def _row(stat: tracemalloc.Statistic, where: str) -> str:
    return f"{stat.size / 2**20:8.2f} MiB {stat.count:>8} blocks  {where}"


def _describe(obj: object) -> str:
    if isinstance(obj, FrameType):
        return f"frame {obj.f_code.co_name} ({obj.f_code.co_filename}:{obj.f_lineno})"
    if isinstance(obj, dict):
        return f"dict keys {sorted(map(str, obj))[:6]}"
    return type(obj).__qualname__


def _holders(target: object, seen: set[int], depth: int, indent: str) -> list[str]:
    """The referrers of ``target``, then theirs, skipping what this walk itself holds."""
    if depth == 0:
        return []
    lines = []
    for holder in gc.get_referrers(target):
        if id(holder) in seen or (isinstance(holder, FrameType) and holder.f_code.co_filename == __file__):
            continue
        seen.add(id(holder))
        lines.append(f"{indent}<- {_describe(holder)}")
        if not isinstance(holder, FrameType | type):
            lines += _holders(holder, seen, depth - 1, indent + "   ")
    return lines[:40]


def _kubernetes_objects() -> list[str]:
    lists = [
        o for o in gc.get_objects() if isinstance(o, dict) and "items" in o and str(o.get("kind", "")).endswith("List")
    ]
    bodies = [o for o in gc.get_objects() if isinstance(o, dict) and "metadata" in o and "spec" in o and "kind" in o]
    lines = ["", f"lists alive: {len(lists)}; objects (kind, metadata, spec) alive: {len(bodies)}"]
    for what, found in (("list", lists), ("object", bodies)):
        if found:
            sample = found[len(found) // 2]
            lines.append(f"who holds a {what} ({sample.get('kind')}):")
            lines += _holders(sample, {id(found), id(lists), id(bodies), id(sample)}, HOLDER_DEPTH, "  ")
    return lines


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
    lines += _kubernetes_objects()
    with open(os.environ["FERRIS_HEAP_REPORT"], "w") as out:
        out.write("\n".join(lines) + "\n")


def main() -> None:
    # Imported before tracing starts: code is not what grows with packages, and importing
    # under tracemalloc is slow.
    from ferris_operator.main import main as operator_main

    tracemalloc.start(FRAMES)
    signal.signal(signal.SIGUSR1, _report)
    operator_main()


if __name__ == "__main__":
    main()
