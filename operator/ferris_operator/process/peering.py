"""Which replica works, with several (kopf peering): each process takes a random priority and
its own identity, kopf pauses the handlers of every replica but the highest live one, and this
object tells Ferris's own work beside kopf (the periodic loops, the runners' reports, events)
the same, read from the same peering object every few seconds. One replica alone is always
active. A standby that becomes active catches up on what the other left (``on_active``).

Same priorities would pause every replica (kopf does that for a conflict), so the priority is
drawn at random per process; a replica killed stays in the peering object until its record
outlives ``lifetime`` seconds, which bounds the time to takeover."""

from __future__ import annotations

import datetime
import logging
import os
import random
import socket
from collections.abc import Callable
from typing import Any

from ferris_operator.process import metrics

log = logging.getLogger("ferris.peering")

PEERING_GROUP, PEERING_VERSION = "kopf.dev", "v1"


def _parse(text: str) -> datetime.datetime | None:
    try:
        when = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=datetime.UTC)


def highest_live(status: dict[str, Any], now: datetime.datetime) -> str | None:
    """The identity of the live peer with the highest priority in a peering object's status
    (kopf's layout: identity -> {priority, lastseen, lifetime}). Pure."""
    best: tuple[int, str] | None = None
    for identity, info in status.items():
        if not isinstance(info, dict):
            continue
        seen = _parse(str(info.get("lastseen", "")))
        lifetime = info.get("lifetime")
        if seen is None or not isinstance(lifetime, int) or seen + datetime.timedelta(seconds=lifetime) <= now:
            continue  # dead: kopf will clean it up
        priority = info.get("priority")
        if isinstance(priority, int) and (best is None or (priority, identity) > best):
            best = (priority, identity)
    return None if best is None else best[1]


class Peering:
    def __init__(
        self,
        standalone: bool,
        name: str,
        read: Callable[[str], dict[str, Any] | None],
        lifetime: int = 30,
        clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
    ) -> None:
        """``read``: the peering object named ``name`` (None when it is not there)."""
        self.standalone = standalone
        self.name = name
        self.lifetime = lifetime
        self.identity = f"{socket.gethostname()}-{os.getpid()}-{random.SystemRandom().randrange(16**6):06x}"
        self.priority = random.SystemRandom().randrange(1, 2**31)
        self._read = read
        self._clock = clock
        self._active = standalone
        metrics.REPLICA_ACTIVE.set(int(standalone))
        self.on_active: Callable[[], object] = lambda: None

    @property
    def active(self) -> bool:
        return self._active

    def refresh(self) -> None:
        """Read the peering object again; on becoming active, catch up (``on_active``)."""
        if self.standalone:
            return
        found = self._read(self.name)
        leader = highest_live((found or {}).get("status") or {}, self._clock())
        active = leader == self.identity
        if active != self._active:
            self._active = active
            metrics.REPLICA_ACTIVE.set(int(active))
            if active:
                log.info("peering %s: this replica (%s) is active now", self.name, self.identity)
                self.on_active()
            else:
                log.info("peering %s: replica %s is active; this one (%s) stands by", self.name, leader, self.identity)
