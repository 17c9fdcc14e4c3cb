"""spec.retries: which failures start another attempt, how many, how long between them, and the
names the attempts get."""

from __future__ import annotations

import pytest

from ferris_operator import model
from ferris_operator.retry_policy import RetryPolicy, attempt_run_name, policy_of


def test_no_policy_without_a_positive_limit() -> None:
    assert policy_of(None) is None and policy_of({}) is None and policy_of({"limit": 0}) is None
    assert policy_of("3") is None and policy_of({"limit": True}) is None


def test_defaults_and_bounds() -> None:
    assert policy_of({"limit": 2}) == RetryPolicy(2, 30, 3600, ("RunnerLost", "Timeout"))
    clamped = policy_of(
        {"limit": 99, "backoffSeconds": -5, "maxBackoffSeconds": 10**9, "reasons": ["StepFailed", "Nope"]}
    )
    assert clamped == RetryPolicy(10, 0, 86400, ("StepFailed",))
    assert policy_of({"limit": 1, "reasons": []}) == RetryPolicy(1, 30, 3600, ("RunnerLost", "Timeout"))


def test_only_the_chosen_failures_retry_and_only_while_attempts_remain() -> None:
    policy = RetryPolicy(2, retry_on=("RunnerLost", "StepFailed"))
    assert policy.max_attempts == 3
    assert policy.next_attempt(1, model.FAILED, "RunnerLost") == 2
    assert policy.next_attempt(2, model.FAILED, "StepFailed") == 3
    assert policy.next_attempt(3, model.FAILED, "StepFailed") is None  # the last attempt
    assert policy.next_attempt(1, model.FAILED, "Timeout") is None  # not chosen
    assert policy.next_attempt(1, model.FAILED, "PackageNotFound") is None  # never retryable
    assert policy.next_attempt(1, model.CANCELLED, "Cancelled") is None
    assert policy.next_attempt(1, model.SUCCEEDED, "Succeeded") is None


def test_backoff_doubles_up_to_its_maximum() -> None:
    policy = RetryPolicy(5, backoff_seconds=10, max_backoff_seconds=60)
    assert [policy.delay(a) for a in range(1, 6)] == [10, 20, 40, 60, 60]


@pytest.mark.parametrize(
    ("name", "attempt", "expected"),
    [
        ("nightly-x7k2p", 2, "nightly-x7k2p-attempt-2"),
        ("nightly-x7k2p-attempt-2", 3, "nightly-x7k2p-attempt-3"),
        ("a" * 60, 2, "a" * 40 + "-attempt-2"),
        ("ends-with-dash-" + "b" * 25 + "-c", 10, "ends-with-dash-" + "b" * 25 + "-attempt-10"),
    ],
)
def test_attempt_names_are_stable_and_short_enough(name: str, attempt: int, expected: str) -> None:
    assert attempt_run_name(name, attempt) == expected
    assert len(model.job_name(expected)) <= 63 and model.job_name(expected) == f"{expected}-run"
