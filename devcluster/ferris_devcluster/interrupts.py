"""Ctrl-C and SIGTERM stop a program that started processes in order, and never halfway through
stopping them.

``install()`` makes the first SIGINT raise KeyboardInterrupt and the first SIGTERM raise
SystemExit (or KeyboardInterrupt, as a test session wants it), so that every `with` block and
`finally` clause runs. An interrupt that arrives inside ``shielded()`` (the stop of a process, a
cluster, a database) waits until the block ends: raised in the middle, it would leave the rest
running. Later interrupts are ignored with a message: they would cut the orderly stop short.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

_depth = 0
_pending: BaseException | None = None
_interrupted = False


def _exit_status(signum: int) -> BaseException:
    return SystemExit(128 + signum)


def _keyboard_interrupt(signum: int) -> BaseException:
    return KeyboardInterrupt(f"signal {signum}")


def install(sigterm_raises: Callable[[int], BaseException] = _exit_status) -> None:
    """Handle SIGINT and SIGTERM in this (main) thread, as the module's docstring says."""
    signal.signal(signal.SIGINT, _handler(_keyboard_interrupt))
    signal.signal(signal.SIGTERM, _handler(sigterm_raises))


def install_for_tests() -> None:
    """SIGTERM as Ctrl-C: pytest then tears every fixture down."""
    install(_keyboard_interrupt)


def _handler(make: Callable[[int], BaseException]) -> Callable[[int, FrameType | None], None]:
    def handle(signum: int, frame: FrameType | None) -> None:
        global _interrupted, _pending
        if _interrupted:
            print(f"signal {signum} ignored: stopping already", file=sys.stderr, flush=True)
            return
        _interrupted = True
        if _depth:
            _pending = make(signum)
            return
        raise make(signum)

    return handle


@contextmanager
def shielded() -> Iterator[None]:
    """Hold an interrupt back until the block (and any shielded block around it) ends. Also a
    decorator: ``@shielded()``."""
    global _depth, _pending
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0 and _pending is not None:
            pending, _pending = _pending, None
            raise pending
