"""Bounds on what one source may cost. Pure.

``TokenBuckets``: a token bucket per key (an address, a user), spent by what costs the cluster
something (a failed login, a review of the user's rights): a burst, then a steady rate. A runner
that holds its token never spends from it; a flood of made-up tokens is refused after a short
burst, before any work is done for it. Memory is bounded: when more keys than ``max_sources``
are tracked, the ones with full buckets are forgotten first.

``Holds``: how many long requests (a followed log, an event's answer waited for) each key and
everyone together hold open at once."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBuckets:
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
        """True when ``source`` has spent its bucket and must wait."""
        return source in self._buckets and self._tokens(source, self.clock()) < 1

    def retry_after(self, source: str) -> int:
        """Whole seconds until ``source`` may spend again."""
        missing = 1 - self._tokens(source, self.clock()) if source in self._buckets else 0
        return max(1, int(missing / self.per_second + 0.999))

    def spend(self, source: str) -> None:
        now = self.clock()
        self._buckets[source] = (max(0.0, self._tokens(source, now) - 1), now)
        if len(self._buckets) > self.max_sources:
            self._forget(now)

    def _forget(self, now: float) -> None:
        full = [s for s in self._buckets if self._tokens(s, now) >= self.burst]
        for source in full or sorted(self._buckets, key=lambda s: self._buckets[s][1])[: len(self._buckets) // 2]:
            del self._buckets[source]


class Holds:
    def __init__(self, per_key: int, total: int) -> None:
        self.per_key, self.total = per_key, total
        self._held: dict[str, int] = {}

    def take(self, key: str) -> bool:
        """One more held for ``key``; False (nothing taken) when it or everyone holds the most."""
        if self._held.get(key, 0) >= self.per_key or sum(self._held.values()) >= self.total:
            return False
        self._held[key] = self._held.get(key, 0) + 1
        return True

    def give_back(self, key: str) -> None:
        left = self._held.get(key, 0) - 1
        if left > 0:
            self._held[key] = left
        else:
            self._held.pop(key, None)

    def held(self, key: str) -> int:
        return self._held.get(key, 0)
