"""Every periodic loop of the operator, in one place: its name, how often, what it runs. Each
runs in a thread, on its own schedule; one that fails is logged and runs again next time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from ferris_operator import handlers
from ferris_operator.memory import release_free_memory
from ferris_operator.settings import Settings

log = logging.getLogger("ferris.loops")
RESYNC_SECONDS = 10
HISTORY_SWEEP_SECONDS = 60
LAST_RUN_SECONDS = 1
RELEASE_MEMORY_SECONDS = 30


@dataclass(frozen=True)
class Loop:
    name: str
    seconds: float
    run: Callable[[], object]


def loops(settings: Settings) -> tuple[Loop, ...]:
    return (
        Loop("resync active runs", RESYNC_SECONDS, handlers.resync_active_runs),
        Loop("packages' lastRun", LAST_RUN_SECONDS, handlers.publish_last_runs),
        Loop("history of packages with newly finished runs", RESYNC_SECONDS, handlers.clean_recent_history),
        Loop("history limits and TTLs of every package", HISTORY_SWEEP_SECONDS, handlers.sweep_history),
        Loop("re-read of source Secrets", settings.source_resync_seconds, handlers.resync_package_sources),
        Loop("freed memory back to the system", RELEASE_MEMORY_SECONDS, release_free_memory),
    )


async def every(loop: Loop) -> None:
    while True:
        await asyncio.sleep(loop.seconds)
        try:
            await asyncio.to_thread(loop.run)
        except Exception:
            log.exception("periodic %s failed", loop.name)
