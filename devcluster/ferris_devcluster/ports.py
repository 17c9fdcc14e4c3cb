"""Free loopback ports, so that several local clusters side by side never collide.

A port is chosen below the kernel's ephemeral range, where outgoing connections take their
local ports: a port the kernel handed out (``bind(0)``) is free when asked, but until the
process that will listen on it starts, seconds later, any client connection of the stack (to
the API server, to PostgreSQL) may be given it as its own, and the listener then fails with
"address already in use"."""

from __future__ import annotations

import random
import socket
from pathlib import Path

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST = 10000  # below: ports that well-known services may listen on
TRIES = 200


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


def free_port() -> int:
    """A loopback port nothing listens on, outside the ephemeral range when there is room."""
    top = _ephemeral_start()
    if top - LOWEST >= 1000:
        for _ in range(TRIES):
            port = random.randrange(LOWEST, top)
            if _bindable(port):
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def is_listening(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0
