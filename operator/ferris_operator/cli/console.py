"""`ferris console`: the web console on localhost, logged in with the kubeconfig's credentials,
so that nothing needs pasting (the proxy itself is console_proxy.py, imported when run)."""

from __future__ import annotations

from typing import Any

from ferris_operator.cli.lazy import lazy
from ferris_operator.cli.server import register_common


def register(commands: Any) -> None:
    console = commands.add_parser("console", help="the web console on localhost, as your kubeconfig's user")
    console.add_argument("--port", type=int, default=0, help="local port (default: a free one)")
    console.add_argument("--no-browser", action="store_true", help="print the URL, do not open a browser")
    register_common(console, namespace=False)
    console.set_defaults(handler=lazy("ferris_operator.cli.console_proxy", "cmd_console"))
