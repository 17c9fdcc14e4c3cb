"""Coalesced work: a key asked for while it waits is done once, a key asked for while it runs
is done once more afterwards, never twice at the same time; a failure stops nothing."""

from __future__ import annotations

import asyncio
import threading
import time

from ferris_operator.work.queue import Coalescer


async def until_idle(coalescer: Coalescer, workers: asyncio.Task[None]) -> None:
    deadline = time.monotonic() + 5
    while not coalescer.idle:
        assert time.monotonic() < deadline, "the work never ended"
        await asyncio.sleep(0.01)
    workers.cancel()


def test_keys_asked_for_many_times_are_done_once_while_waiting_and_once_more_while_busy() -> None:
    done: list[str] = []
    running: set[str] = set()
    overlaps: list[str] = []
    lock = threading.Lock()
    release = threading.Event()

    def work(key: str) -> None:
        with lock:
            if key in running:
                overlaps.append(key)
            running.add(key)
        if key == "slow":
            release.wait(5)
        with lock:
            running.discard(key)
            done.append(key)

    async def scenario() -> None:
        coalescer = Coalescer(work, workers=4)
        task = asyncio.create_task(coalescer.run())
        coalescer.add("slow")
        await asyncio.sleep(0.05)  # "slow" is running
        for _ in range(10):
            coalescer.add("slow")  # asked again while busy: once more afterwards
            coalescer.add("quick")  # asked ten times before a worker takes it: at most twice
        release.set()
        await until_idle(coalescer, task)

    asyncio.run(scenario())
    assert done.count("slow") == 2 and 1 <= done.count("quick") <= 2
    assert overlaps == []


def test_a_failing_key_does_not_stop_the_workers() -> None:
    done: list[str] = []

    def work(key: str) -> None:
        if key == "bad":
            raise RuntimeError("boom")
        done.append(key)

    async def scenario() -> None:
        coalescer = Coalescer(work, workers=1)
        task = asyncio.create_task(coalescer.run())
        for key in ("bad", "good", "bad", "also-good"):
            coalescer.add(key)
        await until_idle(coalescer, task)

    asyncio.run(scenario())
    assert done == ["good", "also-good"]
