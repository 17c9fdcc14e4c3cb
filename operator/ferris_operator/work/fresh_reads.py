"""Reads of an object shared by callers that must see it at least as new as the moment they
ask. A read already sent when a caller asks may have been answered before the write that
caller must see, so it never serves that caller: the caller waits for the next read, which
every caller that asks meanwhile shares. Nothing is kept once no caller waits: this is not a
cache, and it is fresh by construction (a run whose event arrived after a package update
sees the update, because its read was sent after its event arrived).

In a burst of runs of one package, a few reads serve them all instead of one GET per run."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass
class _Key(Generic[V]):
    asked: int = 0  # callers so far, numbered
    answered: int = 0  # the number of the last caller the latest answer serves
    answer: V | None = None
    reading: bool = False
    waiting: int = 0  # callers inside get()


class FreshReads(Generic[K, V]):
    def __init__(self, read: Callable[[K], V]) -> None:
        self._read = read
        self._keys: dict[K, _Key[V]] = {}
        self._changed = threading.Condition()
        self.reads = 0  # reads sent, for the benchmark and the tests

    def get(self, key: K) -> V:
        """The object as it is now, or newer: read by this caller, or by another whose read
        was sent after this caller asked. The answer is shared: never change it."""
        with self._changed:
            state = self._keys.setdefault(key, _Key())
            state.asked += 1
            state.waiting += 1
            mine = state.asked
        try:
            return self._get(key, state, mine)
        finally:
            with self._changed:
                state.waiting -= 1
                if state.waiting == 0:
                    del self._keys[key]

    def _get(self, key: K, state: _Key[V], mine: int) -> V:
        while True:
            with self._changed:
                while state.answered < mine and state.reading:
                    self._changed.wait()
                if state.answered >= mine:
                    return state.answer  # type: ignore[return-value]  # set with answered
                state.reading, sent = True, state.asked  # serves every caller that asked so far
                self.reads += 1
            try:
                value = self._read(key)
            except BaseException:
                with self._changed:
                    state.reading = False
                    self._changed.notify_all()  # another waiter reads (and may fail) for itself
                raise
            with self._changed:
                state.reading = False
                state.answer, state.answered = value, sent
                self._changed.notify_all()
            return value
