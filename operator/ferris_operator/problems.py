"""One shape for "what went wrong, and what to do": a CamelCase reason for conditions and
Events, and a message that names the field or object and the fix. Pure."""

from __future__ import annotations


class Problem(Exception):
    """What went wrong: ``reason`` goes into conditions and Events, ``message`` names the field
    or object and the fix; ``retry`` when it heals by itself (a Secret not created yet, a
    package not reconciled yet) rather than needing a person."""

    def __init__(self, reason: str, message: str, retry: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retry = retry
