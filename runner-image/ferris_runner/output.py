"""What of a step's output its report keeps: everything up to (almost) 4 MiB; past that, the
first 256 KiB and the last bytes, with a line where the rest was dropped saying how much.
Nothing is cut silently (the pod's log has every line while the pod lives). Budgets count
what a line takes in the report's JSON (a newline takes two bytes there, a control character
six); the figures people read count the output's own UTF-8 bytes."""

from __future__ import annotations

import json
import threading
from collections import deque

from ferris_wire.runner_api import MAX_CHUNK_CHARS, MAX_OUTPUT_CHARS

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


class LiveOutput:
    """A running step's output on its way to followers: lines (masked already) wait here until
    a chunk takes them; a chunk leaves only once it is stored, so one the API did not get is
    sent again, at the same offset, with what came after it. ``stop`` ends it for the step
    (the API refused more, or the step ended): the step's last report keeps the whole output."""

    def __init__(self, limit: int = MAX_OUTPUT_CHARS, chunk: int = MAX_CHUNK_CHARS) -> None:
        self.limit, self.chunk = limit, chunk
        self.sent = 0  # characters stored by the API: where the next chunk starts
        self.chunks = 0  # chunks stored
        self.stopped = False
        self._pending: deque[str] = deque()
        self._lock = threading.Lock()

    def add(self, line: str) -> None:
        with self._lock:
            if not self.stopped:
                self._pending.append(line)

    def take(self) -> tuple[int, str] | None:
        """Where the next chunk starts and its text (whole lines, within the chunk's bound; a
        longer line is cut), or None: nothing to send, or stopped."""
        with self._lock:
            if self.stopped or not self._pending:
                return None
            room = min(self.chunk, self.limit - self.sent)
            if room <= 0:
                self.stopped = True
                return None
            text: list[str] = []
            size = 0
            for line in self._pending:
                if size + len(line) > room:
                    if not text:
                        text.append(line[:room])
                    break
                text.append(line)
                size += len(line)
            return self.sent, "".join(text)

    def stored(self, text: str) -> None:
        """``text``, the chunk ``take`` gave, is stored: it leaves the queue."""
        with self._lock:
            self.sent += len(text)
            self.chunks += 1
            left = len(text)
            while left and self._pending:
                line = self._pending.popleft()
                if len(line) > left:  # a long line cut: its rest waits for the next chunk
                    self._pending.appendleft(line[left:])
                    left = 0
                else:
                    left -= len(line)

    def stop(self) -> None:
        with self._lock:
            self.stopped = True
            self._pending.clear()
