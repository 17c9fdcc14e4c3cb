"""Token buckets (failed logins, reviews of rights) and holds (long requests) per key."""

from __future__ import annotations

from ferris_operator.work.ratelimit import Holds, TokenBuckets


def test_failures_from_one_source_are_limited_and_heal_with_time() -> None:
    now = [0.0]
    limiter = TokenBuckets(burst=3, per_second=1, clock=lambda: now[0])
    for _ in range(3):
        assert not limiter.blocked("10.0.0.1")
        limiter.spend("10.0.0.1")
    assert limiter.blocked("10.0.0.1") and not limiter.blocked("10.0.0.2")
    now[0] = 1.5
    assert not limiter.blocked("10.0.0.1")


def test_the_limiter_forgets_sources_instead_of_growing_without_bound() -> None:
    now = [0.0]
    limiter = TokenBuckets(burst=2, per_second=1, max_sources=100, clock=lambda: now[0])
    for i in range(1000):
        limiter.spend(f"10.0.{i // 256}.{i % 256}")
    assert len(limiter._buckets) <= 101


def test_retry_after_says_when_one_more_may_be_spent() -> None:
    now = [0.0]
    limiter = TokenBuckets(burst=2, per_second=0.5, clock=lambda: now[0])
    limiter.spend("u")
    limiter.spend("u")
    assert limiter.blocked("u") and limiter.retry_after("u") == 2
    now[0] = 2.0
    assert not limiter.blocked("u")


def test_holds_are_bounded_per_key_and_for_everyone_and_given_back() -> None:
    holds = Holds(per_key=2, total=3)
    assert holds.take("a") and holds.take("a") and not holds.take("a")
    assert holds.take("b") and not holds.take("c")  # everyone's total reached
    holds.give_back("a")
    assert holds.held("a") == 1 and holds.take("c")
    for key in ("a", "b", "c"):
        holds.give_back(key)
    assert holds._held == {}
