"""Work by key, coalesced: a key asked for again while it waits is done once; a key asked for
while it is being done is done once more afterwards, never twice at the same time. Used for
the runner API's notifications: a burst of reports for one run costs one status write."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger("ferris.coalesce")


class Coalescer:
    def __init__(self, work: Callable[[str], None], workers: int) -> None:
        self._work = work
        self._workers = workers
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._waiting: set[str] = set()
        self._busy: set[str] = set()
        self._again: set[str] = set()

    def add(self, key: str) -> None:
        """Ask for ``key`` to be done (from the event loop's thread)."""
        if key in self._busy:
            self._again.add(key)
        elif key not in self._waiting:
            self._waiting.add(key)
            self._queue.put_nowait(key)

    @property
    def idle(self) -> bool:
        return not (self._waiting or self._busy)

    async def run(self) -> None:
        """Do the work until cancelled, ``workers`` keys at a time, each in a thread."""
        await asyncio.gather(*(self._worker() for _ in range(self._workers)))

    async def _worker(self) -> None:
        while True:
            key = await self._queue.get()
            self._waiting.discard(key)
            self._busy.add(key)
            try:
                await asyncio.to_thread(self._work, key)
            except Exception as exc:  # the work's own concern; a worker never dies of it
                log.warning("work for one key failed with %s", type(exc).__name__)
            finally:
                self._busy.discard(key)
                if key in self._again:
                    self._again.discard(key)
                    self.add(key)
