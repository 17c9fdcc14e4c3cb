"""Give the heap's free memory back to the system.

A burst (a thousand runs, ten thousand packages created) leaves glibc's heap holding freed
memory that the process never uses again: measured 304 MiB RSS at rest after 3,000 packages,
155 MiB after ``malloc_trim(0)``. The operator calls this periodically; where the C library has
no ``malloc_trim`` (musl), it does nothing."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    libc = ctypes.CDLL(name)
    trim: Callable[[int], int] | None = getattr(libc, "malloc_trim", None)
    return trim


def release_free_memory() -> bool:
    """True when the C library released memory (or had some to consider)."""
    trim = _malloc_trim()
    return bool(trim and trim(0))
