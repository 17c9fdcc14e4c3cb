"""Shared reads that are never older than their caller (fresh_reads.py)."""

from __future__ import annotations

import threading
import time

import pytest

from ferris_operator.work.fresh_reads import FreshReads


def callers_inside(reads: FreshReads[str, object], key: str, count: int) -> None:
    """Wait until ``count`` callers are inside ``get(key)`` (asked, and waiting): the moment the
    test needs, whatever the machine's load, instead of a sleep that is long enough when idle."""
    deadline = time.monotonic() + 10
    while True:
        with reads._changed:
            state = reads._keys.get(key)
            if state is not None and state.waiting >= count:
                return
        assert time.monotonic() < deadline, f"{count} callers never got inside"
        time.sleep(0.001)


def test_a_read_sent_before_a_caller_asked_never_serves_it() -> None:
    version = 0
    started, release = threading.Event(), threading.Event()

    def read(key: str) -> int:
        seen = version
        started.set()
        release.wait()
        return seen

    reads: FreshReads[str, int] = FreshReads(read)
    results: dict[str, int] = {}
    first = threading.Thread(target=lambda: results.setdefault("first", reads.get("p")))
    first.start()
    started.wait()  # the first read is out, and has seen version 0
    version = 1  # then the package changes, then the second caller asks
    second = threading.Thread(target=lambda: results.setdefault("second", reads.get("p")))
    second.start()
    callers_inside(reads, "p", 2)  # the second has asked while the first read is out
    release.set()
    first.join()
    second.join()
    assert results == {"first": 0, "second": 1}
    assert reads.reads == 2 and reads._keys == {}


def test_callers_that_ask_while_a_read_is_out_share_the_next_one() -> None:
    gate = threading.Event()

    def read(key: str) -> str:
        gate.wait()
        return key.upper()

    reads: FreshReads[str, str] = FreshReads(read)
    answers: list[str] = []
    threads = [threading.Thread(target=lambda: answers.append(reads.get("p"))) for _ in range(20)]
    for thread in threads:
        thread.start()
    callers_inside(reads, "p", 20)
    gate.set()
    for thread in threads:
        thread.join()
    assert answers == ["P"] * 20
    assert reads.reads <= 2  # the one out when they asked, then one for all who waited
    assert reads._keys == {}


def test_a_failed_read_fails_its_caller_and_the_others_read_for_themselves() -> None:
    calls = 0

    def read(key: str) -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("refused")
        return "ok"

    reads: FreshReads[str, str] = FreshReads(read)
    with pytest.raises(ConnectionError):
        reads.get("p")
    assert reads.get("p") == "ok" and reads._keys == {}
