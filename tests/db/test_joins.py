"""What FerrisTriggers' joins wait on, against a real PostgreSQL: the first open event per part
counts, an event offered again changes nothing, the window is counted back from the event that
arrives, a completed join opens nothing again, and two parts offered at once see each other."""

from __future__ import annotations

import datetime
import threading
import uuid

from psycopg_pool import ConnectionPool

from ferris_operator.store.joins import JoinStore

T0 = datetime.datetime(2026, 12, 7, 10, 0, tzinfo=datetime.UTC)
HOUR = datetime.timedelta(hours=1)


def test_the_first_event_of_each_part_counts_and_offering_one_again_changes_nothing(pool: ConnectionPool) -> None:
    joins, trigger = JoinStore(pool), uuid.uuid4().hex
    assert set(joins.offer(trigger, "7", "paid", 1, {"n": 1}, T0, HOUR)) == {"paid"}
    assert joins.offer(trigger, "7", "paid", 2, {"n": 2}, T0, HOUR)["paid"].data == {"n": 1}  # the first counts
    assert joins.offer(trigger, "8", "packed", 3, {}, T0, HOUR).keys() == {"packed"}  # another order apart
    both = joins.offer(trigger, "7", "packed", 4, {"n": 4}, T0, HOUR)
    assert {name: part.seq for name, part in both.items()} == {"paid": 1, "packed": 4}
    assert joins.offer(trigger, "7", "packed", 4, {"n": 4}, T0, HOUR) == both  # routed again: the same
    joins.complete(trigger, "7", [1, 4])
    assert joins.offer(trigger, "7", "packed", 4, {"n": 4}, T0, HOUR) == {}  # completed: opens nothing again
    assert joins.offer(other := uuid.uuid4().hex, "7", "paid", 1, {}, T0, HOUR).keys() == {"paid"}
    assert other != trigger


def test_an_open_part_older_than_the_window_no_longer_counts(pool: ConnectionPool) -> None:
    joins, trigger = JoinStore(pool), uuid.uuid4().hex
    joins.offer(trigger, "7", "paid", 1, {}, T0, HOUR)
    later = joins.offer(trigger, "7", "packed", 2, {}, T0 + HOUR + datetime.timedelta(seconds=1), HOUR)
    assert set(later) == {"packed"}
    assert set(joins.offer(trigger, "7", "paid", 3, {}, T0 + 2 * HOUR, HOUR)) == {"paid", "packed"}


def test_two_parts_offered_at_once_see_each_other(pool: ConnectionPool) -> None:
    """The router routes a batch's events in parallel: without the offers taking turns, each saw
    only its own part and the join never completed."""
    for _ in range(20):
        assert {"paid", "packed"} in offered_at_once(JoinStore(pool), uuid.uuid4().hex)


def offered_at_once(joins: JoinStore, trigger: str) -> list[set[str]]:
    """What each of two offers of one join, started together, saw."""
    seen: list[set[str]] = []
    start = threading.Barrier(2)

    def offer(part: str, seq: int) -> None:
        start.wait()
        seen.append(set(joins.offer(trigger, "7", part, seq, {}, T0, HOUR)))

    threads = [threading.Thread(target=offer, args=("paid", 1)), threading.Thread(target=offer, args=("packed", 2))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return seen


def test_completed_parts_go_with_the_events_retention(pool: ConnectionPool) -> None:
    joins, trigger = JoinStore(pool), uuid.uuid4().hex
    joins.offer(trigger, "7", "paid", 1, {}, T0, HOUR)
    joins.offer(trigger, "7", "packed", 2, {}, T0, HOUR)
    joins.complete(trigger, "7", [1, 2])
    assert joins.expire(T0 + HOUR) >= 2
    with pool.connection() as conn:
        left = conn.execute("SELECT count(*) FROM join_parts WHERE trigger_uid = %s", (trigger,)).fetchone()
    assert left == (0,)
