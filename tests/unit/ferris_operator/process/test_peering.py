"""Which replica is active: the live peer with the highest priority in kopf's peering object;
a standby that becomes active catches up; one replica alone is always active."""

from __future__ import annotations

import datetime
from typing import Any

from ferris_operator.process import metrics
from ferris_operator.process.peering import Peering, highest_live

NOW = datetime.datetime(2026, 11, 30, 12, 0, 0, tzinfo=datetime.UTC)


def peer(priority: int, seconds_ago: float, lifetime: int = 30) -> dict[str, Any]:
    seen = NOW - datetime.timedelta(seconds=seconds_ago)
    return {"priority": priority, "lifetime": lifetime, "lastseen": seen.isoformat()}


def test_the_highest_live_priority_wins_and_the_dead_count_for_nothing() -> None:
    status = {"a": peer(5, 1), "b": peer(9, 31), "c": peer(7, 29), "d": {"priority": "x"}, "e": "junk"}
    assert highest_live(status, NOW) == "c"  # b's record outlived its lifetime: a killed replica
    assert highest_live({}, NOW) is None and highest_live({"b": peer(9, 30)}, NOW) is None


def test_a_standby_becomes_active_when_the_active_one_dies_and_catches_up_once() -> None:
    objects: dict[str, Any] = {}
    peering = Peering(False, "ferris", lambda name: objects.get(name), clock=lambda: NOW)
    caught_up: list[str] = []
    peering.on_active = lambda: caught_up.append("catch up")
    other = "other-replica"
    objects["ferris"] = {"status": {other: peer(peering.priority + 1, 1), peering.identity: peer(peering.priority, 1)}}
    peering.refresh()
    assert not peering.active and caught_up == [] and metrics.REPLICA_ACTIVE._value.get() == 0
    objects["ferris"]["status"][other] = peer(peering.priority + 1, 31)  # killed: its record expires
    peering.refresh()
    peering.refresh()
    assert peering.active and caught_up == ["catch up"] and metrics.REPLICA_ACTIVE._value.get() == 1


def test_one_replica_alone_is_always_active_and_reads_nothing() -> None:
    def unreadable(name: str) -> dict[str, Any]:
        raise AssertionError("a standalone operator reads no peering object")

    peering = Peering(True, "ferris", unreadable)
    peering.refresh()
    assert peering.active and 1 <= peering.priority < 2**31 and metrics.REPLICA_ACTIVE._value.get() == 1
