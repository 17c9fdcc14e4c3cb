"""Command handlers imported when their command runs, so that `ferris --help` and every other
command start without loading what one command needs (aiohttp, the database pool, the KMS
clients)."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable

Handler = Callable[[argparse.Namespace], int]


def lazy(module: str, function: str) -> Handler:
    """The handler ``module.function``, imported on its first call."""

    def handler(args: argparse.Namespace) -> int:
        found: Handler = getattr(importlib.import_module(module), function)
        return found(args)

    handler.__qualname__ = f"{module}.{function}"
    return handler
