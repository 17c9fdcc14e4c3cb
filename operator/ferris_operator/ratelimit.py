"""A token bucket per source address, for requests that failed authentication. Pure.

A runner that holds its token never spends from it; a flood of made-up tokens from one source
is refused after a short burst, before any work is done for it. Memory is bounded: when more
sources than ``max_sources`` are tracked, the ones with full buckets are forgotten first."""

from __future__ import annotations

import time
from collections.abc import Callable


class FailureLimiter:
    def __init__(
        self,
        burst: float = 20,
        per_second: float = 2,
        max_sources: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst, self.per_second, self.max_sources, self.clock = burst, per_second, max_sources, clock
        self._buckets: dict[str, tuple[float, float]] = {}  # source -> (tokens, when)

    def _tokens(self, source: str, now: float) -> float:
        tokens, when = self._buckets.get(source, (self.burst, now))
        return min(self.burst, tokens + (now - when) * self.per_second)

    def blocked(self, source: str) -> bool:
        """True when ``source`` has spent its failures and must wait."""
        return source in self._buckets and self._tokens(source, self.clock()) < 1

    def failed(self, source: str) -> None:
        now = self.clock()
        self._buckets[source] = (max(0.0, self._tokens(source, now) - 1), now)
        if len(self._buckets) > self.max_sources:
            self._forget(now)

    def _forget(self, now: float) -> None:
        full = [s for s in self._buckets if self._tokens(s, now) >= self.burst]
        for source in full or sorted(self._buckets, key=lambda s: self._buckets[s][1])[: len(self._buckets) // 2]:
            del self._buckets[source]
