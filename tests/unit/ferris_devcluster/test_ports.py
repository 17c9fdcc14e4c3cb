"""Ports for the local stack's listeners: free, and outside the range the kernel gives outgoing
connections (which could take a port handed out by bind(0) before its listener starts)."""

from __future__ import annotations

import socket
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
