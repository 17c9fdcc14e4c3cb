"""Ports for the local stack's listeners: free, outside the range the kernel gives outgoing
connections (which could take a port handed out by bind(0) before its listener starts), and
never one that another Ferris process (or this one) has chosen already."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ferris_devcluster import ports


def test_a_free_port_is_below_the_ephemeral_range_and_bindable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "range").write_text("32768\t60999\n")
    monkeypatch.setattr(ports, "EPHEMERAL_RANGE", tmp_path / "range")
    for _ in range(20):
        port = ports.free_port()
        assert ports.LOWEST <= port < 32768
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_a_port_in_use_is_not_handed_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        busy = taken.getsockname()[1]
        (tmp_path / "range").write_text(f"{busy + 2000} 60999\n")
        monkeypatch.setattr(ports, "EPHEMERAL_RANGE", tmp_path / "range")
        monkeypatch.setattr(ports, "LOWEST", busy)
        monkeypatch.setattr(ports.random, "randrange", lambda low, high: busy)  # every pick is the busy one
        assert ports.free_port() != busy  # falls back to one the kernel picks


def unused_pair() -> tuple[int, int]:
    """Two ports that nothing binds and no Ferris process has claimed now: fixed numbers failed
    when a stack of the e2e tests, on the other worker, held one of them."""
    found: list[int] = []
    for port in range(23456, 32000):
        try:
            with socket.socket() as sock, socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as claim:
                sock.bind(("127.0.0.1", port))
                claim.bind(f"\0ferris-port-{port}")
        except OSError:
            continue
        found.append(port)
        if len(found) == 2:
            return found[0], found[1]
    raise AssertionError("no two unused ports")


def test_a_port_another_ferris_process_chose_is_not_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    chosen, spare = unused_pair()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_CLAIM, str(chosen)], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "claimed"
        picks = iter([chosen, spare])
        monkeypatch.setattr(ports.random, "randrange", lambda low, high: next(picks))
        assert ports.free_port() == spare
        picks = iter([spare, chosen, spare])
        with pytest.raises(StopIteration):  # neither is handed out again, in this process or the other
            ports.free_port()
    finally:
        holder.kill()
        holder.wait()


HOLD_CLAIM = """import socket, sys, time
claim = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
claim.bind("\\0ferris-port-" + sys.argv[1])
print("claimed", flush=True)
time.sleep(60)
"""
