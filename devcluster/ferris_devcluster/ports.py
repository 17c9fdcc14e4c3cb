"""Free loopback ports, so that several local clusters side by side never collide.

A port is handed out some seconds before the process that listens on it starts, so two things
could take it in between, and the listener would fail with "address already in use":

- one of the machine's outgoing connections: ports are chosen below the kernel's ephemeral
  range, where connections never take theirs (``bind(0)`` hands out ports from inside it);
- another Ferris process choosing ports at the same time (pytest's workers, each with a local
  stack): each port handed out is claimed under an abstract Unix socket name, ``ferris-port-N``,
  held as long as the process that chose it lives (up to ``HELD`` of them, the oldest let go
  first). An abstract name is no file: it goes away with its socket, and nothing is left behind.
"""

from __future__ import annotations

import collections
import random
import socket
import sys
from pathlib import Path

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST = 10000  # below: ports that well-known services may listen on
TRIES = 200
HELD = 512  # claims a process keeps: far more than the ports of the stacks it runs at once

_claims: collections.deque[socket.socket] = collections.deque()


def _ephemeral_start() -> int:
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _claim(port: int) -> bool:
    """True when no other Ferris process holds ``port``; it is this process's from now on."""
    if not sys.platform.startswith("linux"):
        return True  # no abstract socket names: the bind check alone
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(f"\0ferris-port-{port}")
    except OSError:
        sock.close()
        return False
    _claims.append(sock)
    while len(_claims) > HELD:
        _claims.popleft().close()
    return True


def free_port() -> int:
    """A loopback port nothing listens on and no other Ferris process has chosen, outside the
    ephemeral range when there is room."""
    top = _ephemeral_start()
    if top - LOWEST >= 1000:
        for _ in range(TRIES):
            port = random.randrange(LOWEST, top)
            if _bindable(port) and _claim(port):
                return port
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if _claim(port):
            return port


def is_listening(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0
