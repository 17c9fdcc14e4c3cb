"""A package's ``spec.retries``, as a run carries it: which failures start another attempt, how
many, and after how long. Taken from the package when the first attempt starts and carried by
every later attempt, so an edit of the package never changes a chain already under way. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ferris_operator import model, reasons

# The failures worth trying again: the runner or its node lost, the time up, a step failing.
RETRYABLE = (reasons.RUNNER_LOST, reasons.TIMEOUT, reasons.STEP_FAILED)
DEFAULT_ON = (reasons.RUNNER_LOST, reasons.TIMEOUT)
MAX_LIMIT = 10
MAX_SECONDS = 86400
_ATTEMPT_SUFFIX = re.compile(r"-attempt-\d+$")
MAX_BASE_NAME = 40  # room for "-attempt-NN" and the children's suffixes within 63 characters


@dataclass(frozen=True)
class RetryPolicy:
    limit: int  # attempts after the first
    backoff_seconds: int = 30  # before the second attempt; doubled for each one after it
    max_backoff_seconds: int = 3600
    retry_on: tuple[str, ...] = DEFAULT_ON  # spec.retries.reasons

    @property
    def max_attempts(self) -> int:
        return self.limit + 1

    def delay(self, attempt: int) -> int:
        """Seconds between the end of ``attempt`` and the start of the next."""
        return int(min(self.max_backoff_seconds, self.backoff_seconds * 2 ** max(0, attempt - 1)))

    def next_attempt(self, attempt: int, phase: str, reason: str | None) -> int | None:
        """The attempt that follows a run ending with ``phase``/``reason``, or None."""
        if phase == model.FAILED and reason in self.retry_on and attempt < self.max_attempts:
            return attempt + 1
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "backoffSeconds": self.backoff_seconds,
            "maxBackoffSeconds": self.max_backoff_seconds,
            "reasons": list(self.retry_on),
        }


def _bounded(value: Any, low: int, high: int, default: int) -> int:
    return min(high, max(low, value)) if isinstance(value, int) and not isinstance(value, bool) else default


def policy_of(retries: Any) -> RetryPolicy | None:
    """The policy of a package's ``spec.retries`` (or of a run's stored copy); None without one.
    The CRD schema refuses what is out of bounds; anything else here is clamped, never trusted."""
    if not isinstance(retries, dict):
        return None
    limit = _bounded(retries.get("limit"), 0, MAX_LIMIT, 0)
    if limit == 0:
        return None
    named = retries.get("reasons")
    chosen = tuple(r for r in RETRYABLE if isinstance(named, list) and r in named) if named is not None else DEFAULT_ON
    return RetryPolicy(
        limit,
        _bounded(retries.get("backoffSeconds"), 0, MAX_SECONDS, 30),
        _bounded(retries.get("maxBackoffSeconds"), 1, MAX_SECONDS, 3600),
        chosen or DEFAULT_ON,
    )


def attempt_run_name(run_name: str, attempt: int) -> str:
    """The FerrisRun of ``attempt`` after the run ``run_name``: the first attempt's name (without
    a suffix of an earlier attempt, shortened) and ``-attempt-N``; the same however often made."""
    base = _ATTEMPT_SUFFIX.sub("", run_name)[:MAX_BASE_NAME].rstrip("-.")
    return f"{base}-attempt-{attempt}"
