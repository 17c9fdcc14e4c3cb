"""Every periodic loop of the operator, in one place: its name, how often (settings.intervals),
what it runs. Each runs in a thread, on its own schedule; one that fails is logged and runs
again next time. A new periodic job (a schedule's tick, say) is one more line here."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from ferris_operator.handlers import Handlers
from ferris_operator.ports import KeyHealthPort
from ferris_operator.process.memory import release_free_memory
from ferris_operator.process.peering import Peering
from ferris_operator.settings import Intervals

log = logging.getLogger("ferris.loops")


@dataclass(frozen=True)
class Loop:
    name: str
    seconds: float
    run: Callable[[], object]
    always: bool = False  # False: only while this replica is the active one (peering.py)


def loops(handlers: Handlers, every: Intervals, keys: KeyHealthPort, peering: Peering) -> tuple[Loop, ...]:
    return (
        Loop("which replica is active", every.peering, peering.refresh, always=True),
        Loop("scheduled runs", every.schedules, handlers.tick_schedules),
        Loop("events not routed yet", every.events, handlers.route_events),
        Loop("history, events and the write audit past their retention", every.events_expiry, handlers.expire_history),
        Loop("runs whose wait to start is over", every.waiting_runs, handlers.retry_waiting_runs),
        Loop("resync active runs", every.resync_active_runs, handlers.resync_active_runs),
        Loop("ended runs whose status does not show it", every.resync_active_runs, handlers.publish_ended_runs),
        Loop("packages' lastRun", every.last_run, handlers.publish_last_runs),
        Loop("history of packages with newly finished runs", every.recent_history, handlers.clean_recent_history),
        Loop("history limits and TTLs of every package", every.history_sweep, handlers.sweep_history),
        Loop("re-read of source Secrets", every.source_resync, handlers.resync_package_sources),
        Loop("re-read of event sources' Secrets", every.source_resync, handlers.resync_event_sources),
        Loop("re-read of project and platform secrets' sources", every.source_resync, handlers.scopes.resync),
        Loop("secrets written by scripts, announced", every.events, handlers.scopes.announce_writes),
        Loop("key provider status", every.key_provider_status, keys.check, always=True),
        Loop("freed memory back to the system", every.release_memory, release_free_memory, always=True),
    )


async def every(loop: Loop, active: Callable[[], bool] = lambda: True) -> None:
    while True:
        await asyncio.sleep(loop.seconds)
        if not (loop.always or active()):
            continue  # a standby replica: the active one does this
        try:
            await asyncio.to_thread(loop.run)
        except Exception:
            log.exception("periodic %s failed", loop.name)
