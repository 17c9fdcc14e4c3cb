"""One shape for "what went wrong, and what to do": a CamelCase reason for conditions and
Events, and a message that names the field or object and the fix. Pure."""

from __future__ import annotations


class Problem(Exception):
    """A failure the user must act on; ``reason`` goes into conditions and Events."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
