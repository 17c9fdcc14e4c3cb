"""The failure limiter of the runner API."""

from __future__ import annotations

from ferris_operator.ratelimit import FailureLimiter


def test_failures_from_one_source_are_limited_and_heal_with_time() -> None:
    now = [0.0]
    limiter = FailureLimiter(burst=3, per_second=1, clock=lambda: now[0])
    for _ in range(3):
        assert not limiter.blocked("10.0.0.1")
        limiter.failed("10.0.0.1")
    assert limiter.blocked("10.0.0.1") and not limiter.blocked("10.0.0.2")
    now[0] = 1.5
    assert not limiter.blocked("10.0.0.1")


def test_the_limiter_forgets_sources_instead_of_growing_without_bound() -> None:
    now = [0.0]
    limiter = FailureLimiter(burst=2, per_second=1, max_sources=100, clock=lambda: now[0])
    for i in range(1000):
        limiter.failed(f"10.0.{i // 256}.{i % 256}")
    assert len(limiter._buckets) <= 101
