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


# The errors adapters raise across the ports (ports.py), for the services to turn into a Problem.


class Refused(Exception):
    """The API server refused an object as invalid (422); the text is the server's reason."""


class VersionGone(Exception):
    """The secrets version a run pinned is no longer stored."""


class PackageNotStored(Exception):
    """The database holds no row for the package: it was not reconciled into this database
    yet (a new or restored database, while the package's status still says Ready)."""


class MasterKeyMismatch(Exception):
    """A data key in the database does not open with the operator's master key ring; the text
    says which key wrapped it and what the ring holds. Nothing was written."""


class KeyProviderUnavailable(Exception):
    """The key provider (a KMS plugin, a transit engine) cannot be asked now: unreachable, timed
    out, or reporting itself unhealthy. Transient: nothing was written, the caller retries."""


class ScopeGone(Exception):
    """The secret scope a script writes to was deleted meanwhile; nothing was written."""


class ScopeFull(Exception):
    """A script's write would take a secret scope over its number of names; nothing was written."""


class StateQuotaExceeded(Exception):
    """A ``context.state`` write would take the package over its quota; nothing was written."""


class OutputRefused(Exception):
    """A run's output that would take it past its outputs' bounds (``too_large``), or the run has
    ended; nothing was stored. The message says which."""

    def __init__(self, message: str, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


class ChunkRefused(Exception):
    """A running step's chunk not appended: ``status`` 409 (the step is not running, or the
    output stored is not where the chunk starts: ``stored`` says where it ends), 413 (past the
    step's output limit) or 429 (the step sent its most chunks). The runner stops sending the
    step live; its last report stores its whole kept output, as without chunks."""

    def __init__(self, message: str, status: int, stored: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.stored = stored


class RetryLimit(Exception):
    """A retry a run may not ask for (too many, or the run has ended); the message says why."""


class ReportBudgetSpent(Exception):
    """The run has sent as many step reports as a run may (each may rewrite 4 MiB of output)."""
