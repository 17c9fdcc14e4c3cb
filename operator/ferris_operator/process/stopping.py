"""Waiting for the signal to stop (SIGTERM from the kubelet, Ctrl-C at a terminal), for the
processes that serve until then: the server and `ferris console`."""

from __future__ import annotations

import asyncio
import signal


async def until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
