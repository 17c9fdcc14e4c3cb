"""An interrupt never cuts the stop of a process short, and only the first one counts."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from ferris_devcluster import interrupts


@pytest.fixture(autouse=True)
def fresh_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The module's state and the process's handlers as they were (the test session's own)."""
    monkeypatch.setattr(interrupts, "_interrupted", False)
    monkeypatch.setattr(interrupts, "_pending", None)
    monkeypatch.setattr(interrupts, "_depth", 0)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in handlers.items():
        signal.signal(signum, handler)


def test_sigterm_raises_system_exit_and_sigint_keyboard_interrupt() -> None:
    interrupts.install()
    with pytest.raises(SystemExit) as stopped:
        os.kill(os.getpid(), signal.SIGTERM)
    assert stopped.value.code == 128 + signal.SIGTERM
    interrupts._interrupted = False
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)


def test_an_interrupt_inside_a_shielded_block_is_raised_when_the_outermost_block_ends() -> None:
    interrupts.install_for_tests()
    finished = []
    with pytest.raises(KeyboardInterrupt), interrupts.shielded():
        with interrupts.shielded():
            os.kill(os.getpid(), signal.SIGTERM)
            finished.append("inner")
        finished.append("outer")
    assert finished == ["inner", "outer"]
    assert interrupts._pending is None


def test_later_interrupts_are_ignored_so_the_stop_goes_on() -> None:
    interrupts.install_for_tests()
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
    with interrupts.shielded():
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)
    assert interrupts._pending is None


def test_a_shielded_function_as_a_decorator() -> None:
    interrupts.install_for_tests()
    calls = []

    @interrupts.shielded()
    def stop() -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        calls.append("stopped")

    with pytest.raises(KeyboardInterrupt):
        stop()
    assert calls == ["stopped"]
