"""Runs looked at again later (work/deferred.py): due keys taken once, an earlier moment kept, and
one lock per key."""

from __future__ import annotations

import threading
import time

from ferris_operator.work.deferred import Deferred, KeyedLocks


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_key_is_due_once_its_moment_has_come_and_is_taken_once() -> None:
    clock = Clock()
    later: Deferred[str] = Deferred(clock)
    later.add("a", 2)
    later.add("b", 5)
    assert later.take_due() == []
    clock.now += 2
    assert later.take_due() == ["a"]
    assert later.take_due() == []
    clock.now += 3
    assert later.take_due() == ["b"] and len(later) == 0


def test_a_key_added_again_keeps_the_earlier_moment_and_a_forgotten_one_never_comes() -> None:
    clock = Clock()
    later: Deferred[str] = Deferred(clock)
    later.add("a", 1)
    later.add("a", 60)
    later.add("b", 1)
    later.forget("b")
    clock.now += 1
    assert later.take_due() == ["a"]


def test_one_key_is_held_by_one_thread_at_a_time_and_its_lock_is_dropped_after() -> None:
    locks: KeyedLocks[str] = KeyedLocks()
    inside, most = 0, 0
    guard = threading.Lock()

    def hold() -> None:
        nonlocal inside, most
        with locks.held("run"):
            with guard:
                inside += 1
                most = max(most, inside)
            time.sleep(0.01)
            with guard:
                inside -= 1

    threads = [threading.Thread(target=hold) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == 1
    with locks.held("other"), locks.held("run"):  # different keys do not wait for each other
        pass
    with locks.held("run"), locks.held("run"):  # the thread that holds a key may take it again
        pass
    assert locks._locks == {}
