"""What of a step's output its report keeps: everything up to (almost) 4 MiB; past that, the
first 256 KiB and the last bytes, with a line where the rest was dropped saying how much.
Nothing is cut silently (the pod's log has every line while the pod lives). Budgets count
what a line takes in the report's JSON (a newline takes two bytes there, a control character
six); the figures people read count the output's own UTF-8 bytes."""

from __future__ import annotations

import json
from collections import deque

from ferris_wire.runner_api import MAX_OUTPUT_CHARS

KEPT_BYTES = MAX_OUTPUT_CHARS - 4096  # with the line saying what was dropped, within a report's 4 MiB
HEAD_BYTES = 256 * 1024


def cost(text: str) -> int:
    """Bytes ``text`` takes inside a JSON string."""
    return len(json.dumps(text, ensure_ascii=False).encode()) - 2


def dropped(size: int, lines: int, why: str) -> str:
    """The line that stands where output was dropped."""
    return f"[ferris: {size:,} bytes ({lines:,} lines) of output dropped here {why}]\n"


class KeptOutput:
    """A step's output as it streams: the head kept whole, the tail as a window; the lines that
    fall out between them are counted, not kept."""

    def __init__(self, limit: int = KEPT_BYTES, head: int = HEAD_BYTES) -> None:
        self.head_limit, self.tail_limit = head, limit - head
        self.head: list[str] = []
        self.tail: deque[tuple[str, int, int]] = deque()  # line, its cost, its bytes
        self.head_cost = self.tail_cost = 0
        self.head_bytes = self.tail_bytes = 0
        self.dropped_bytes = self.dropped_lines = 0

    def add(self, line: str) -> None:
        weight, size = cost(line), len(line.encode())
        if not self.tail and self.head_cost + weight <= self.head_limit:
            self.head.append(line)
            self.head_cost += weight
            self.head_bytes += size
            return
        self.tail.append((line, weight, size))
        self.tail_cost += weight
        self.tail_bytes += size
        while self.tail_cost > self.tail_limit and len(self.tail) > 1:
            _, gone_weight, gone_size = self.tail.popleft()
            self.tail_cost -= gone_weight
            self.tail_bytes -= gone_size
            self.dropped_bytes += gone_size
            self.dropped_lines += 1

    def text(self) -> str:
        tail = "".join(line for line, _, _ in self.tail)
        if not self.dropped_bytes:
            return "".join(self.head) + tail
        kept = f"(the first {self.head_bytes:,} and the last {self.tail_bytes:,} bytes are kept)"
        return "".join(self.head) + dropped(self.dropped_bytes, self.dropped_lines, kept) + tail


def fit(output: str, limit: int) -> str:
    """``output``, or, when its JSON form is over ``limit`` bytes (a line of many control
    characters), its longest tail that fits behind a line saying how much was dropped."""
    if cost(output) + 2 <= limit:
        return output

    def fitted(keep: int) -> str:
        cut = output[: len(output) - keep]
        tail = output[len(output) - keep :]
        return dropped(len(cut.encode()), cut.count("\n"), "so that the report fits") + tail

    low, high = 0, len(output)  # the longest tail that fits: found by halving
    while low < high:
        middle = (low + high + 1) // 2
        if cost(fitted(middle)) + 2 <= limit:
            low = middle
        else:
            high = middle - 1
    return fitted(low)
