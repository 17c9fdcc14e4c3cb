"""Objects to look at again later, for handlers that kopf does not retry (event handlers): a key
and the moment it is due, kept in memory. A restart loses nothing: kopf's first listing hands
every object to its handler again."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class Deferred(Generic[K]):
    """Keys due at a moment; a key added again keeps the earlier moment."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._due: dict[K, float] = {}
        self._lock = threading.Lock()

    def add(self, key: K, delay: float) -> None:
        at = self._clock() + max(0.0, delay)
        with self._lock:
            self._due[key] = min(at, self._due.get(key, at))

    def forget(self, key: K) -> None:
        with self._lock:
            self._due.pop(key, None)

    def take_due(self) -> list[K]:
        """The keys whose moment has come, removed (the caller adds them again to wait more)."""
        now = self._clock()
        with self._lock:
            due = [key for key, at in self._due.items() if at <= now]
            for key in due:
                del self._due[key]
        return due

    def __len__(self) -> int:
        return len(self._due)


class KeyedLocks(Generic[K]):
    """One lock per key, alive while held or waited for: an object's handler and its delayed
    retry never act on it at once. Reentrant: a thread that holds a key may take it again."""

    def __init__(self) -> None:
        self._locks: dict[K, tuple[threading.RLock, int]] = {}
        self._guard = threading.Lock()

    @contextlib.contextmanager
    def held(self, key: K) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(key, (threading.RLock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)
