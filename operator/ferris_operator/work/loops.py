"""A periodic loop: its name, how often, what it runs, and whether a standby replica runs it too.
Each room declares its own (``loops()`` of its handlers); ``handlers.Rooms`` joins them. Each
runs in a thread on its own schedule; a database outage is counted and waited out, any other
failure logged, and the loop runs again next time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from ferris_operator.process import metrics
from ferris_operator.store.db import DATABASE_ERRORS

log = logging.getLogger("ferris.loops")


@dataclass(frozen=True)
class Loop:
    name: str
    seconds: float
    run: Callable[[], object]
    always: bool = False  # False: only while this replica is the active one (process/peering.py)


def run_once(name: str, run: Callable[[], object]) -> None:
    """One pass of periodic work (a loop's, or one a notification asks for): nothing it raises
    stops the loop that calls it."""
    try:
        run()
    except DATABASE_ERRORS:
        metrics.DATABASE_ERRORS.inc()  # nothing moved on: the next pass decides again
        log.warning("periodic %s: the database is unavailable; trying again next time", name)
    except Exception:
        log.exception("periodic %s failed", name)


async def every(loop: Loop, active: Callable[[], bool] = lambda: True) -> None:
    while True:
        await asyncio.sleep(loop.seconds)
        if loop.always or active():  # a standby replica leaves the rest to the active one
            await asyncio.to_thread(run_once, loop.name, loop.run)
