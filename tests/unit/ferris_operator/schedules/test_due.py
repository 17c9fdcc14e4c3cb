"""What a schedule asks for: the missed-time policies after downtime, deadlines, several
crons, and run names that are the same however often they are made."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from ferris_operator.schedules.cron import parse
from ferris_operator.schedules.due import (
    CATCH_UP,
    KEPT_MISSED,
    RUN_LATEST,
    SKIP,
    Schedule,
    decide,
    offset,
    run_name,
)

UTC = datetime.UTC
ZONE = ZoneInfo("UTC")
T0 = datetime.datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def hourly(missed: str = RUN_LATEST, catch_up: int = 1, deadline: int | None = None) -> Schedule:
    seconds = None if deadline is None else datetime.timedelta(seconds=deadline)
    return Schedule((parse("0 * * * *"),), ZONE, missed, catch_up, seconds)


def hours(n: float) -> datetime.timedelta:
    return datetime.timedelta(hours=n)


def test_nothing_due_says_when_the_next_time_is() -> None:
    decision = decide(hourly(), T0, T0 + hours(0.5))
    assert decision.run == () and decision.missed_count == 0 and decision.cursor == T0
    assert decision.next_time == T0 + hours(1)


def test_on_time_every_policy_runs_the_one_due_time() -> None:
    for policy in (RUN_LATEST, SKIP, CATCH_UP):
        decision = decide(hourly(policy), T0, T0 + hours(1) + datetime.timedelta(seconds=2))
        assert decision.run == (T0 + hours(1),) and decision.missed_count == 0, policy
        assert decision.cursor == T0 + hours(1) and decision.next_time == T0 + hours(2)


def test_after_downtime_run_latest_runs_only_the_latest_and_counts_the_rest() -> None:
    decision = decide(hourly(), T0, T0 + hours(5.5))
    assert decision.run == (T0 + hours(5),)
    assert decision.missed == tuple(T0 + hours(h) for h in range(1, 5)) and decision.missed_count == 4
    assert decision.cursor == T0 + hours(5)


def test_a_deadline_past_the_latest_time_runs_nothing() -> None:
    decision = decide(hourly(deadline=600), T0, T0 + hours(5.5))
    assert decision.run == () and decision.missed_count == 5 and decision.cursor == T0 + hours(5)


def test_skip_runs_nothing_after_downtime() -> None:
    decision = decide(hourly(SKIP), T0, T0 + hours(5.5))
    assert decision.run == () and decision.missed_count == 5


def test_catch_up_runs_the_most_recent_times_oldest_first_within_the_limit() -> None:
    decision = decide(hourly(CATCH_UP, catch_up=3), T0, T0 + hours(5.5))
    assert decision.run == (T0 + hours(3), T0 + hours(4), T0 + hours(5))
    assert decision.missed == (T0 + hours(1), T0 + hours(2)) and decision.missed_count == 2
    within = decide(hourly(CATCH_UP, catch_up=3, deadline=2 * 3600), T0, T0 + hours(5.5))
    assert within.run == (T0 + hours(4), T0 + hours(5)) and within.missed_count == 3


def test_a_year_of_every_minute_is_counted_not_held() -> None:
    every_minute = Schedule((parse("* * * * *"),), ZONE)
    decision = decide(every_minute, T0, T0 + datetime.timedelta(days=365))
    assert decision.missed_count == 365 * 24 * 60 - 1 and len(decision.missed) == KEPT_MISSED
    assert decision.run == (T0 + datetime.timedelta(days=365),)


def test_what_a_decision_holds_does_not_grow_with_the_times_it_passes() -> None:
    """A month of every minute (43,200 times; holding them would take some 3 MiB) passes
    through the decision while it holds at most a few kilobytes more than for an hour."""
    import tracemalloc

    every_minute = Schedule((parse("* * * * *"),), ZONE)

    def peak(span: datetime.timedelta) -> int:
        tracemalloc.start()
        try:
            decide(every_minute, T0, T0 + span)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    hour, month = peak(datetime.timedelta(hours=1)), peak(datetime.timedelta(days=30))
    assert month - hour < 64 * 1024, f"an hour: {hour} bytes at the peak, a month: {month}"


def test_several_crons_merge_and_a_shared_time_runs_once() -> None:
    schedule = Schedule((parse("0 * * * *"), parse("*/30 * * * *")), ZONE, CATCH_UP, 10)
    decision = decide(schedule, T0, T0 + hours(1))
    assert decision.run == (T0 + hours(0.5), T0 + hours(1))


def test_run_names_are_stable_dns_labels() -> None:
    assert run_name("nightly", T0) == "nightly-202611301000"
    berlin = T0.astimezone(ZoneInfo("Europe/Berlin"))
    assert run_name("nightly", berlin) == "nightly-202611301000"  # the same instant, the same name
    long_a, long_b = "a" * 60, "a" * 59 + "b"
    assert len(run_name(long_a, T0)) == 56 and run_name(long_a, T0) != run_name(long_b, T0)
    assert run_name(long_a, T0).endswith("-202611301000")


def skipping(*times: datetime.datetime, missed: str = RUN_LATEST, catch_up: int = 1) -> Schedule:
    return Schedule((parse("0 * * * *"),), ZONE, missed, catch_up, None, frozenset(times))


def test_a_skipped_time_makes_no_run_is_neither_due_nor_missed_and_is_named_once() -> None:
    decision = decide(skipping(T0 + hours(1)), T0, T0 + hours(1.5))
    assert decision.run == () and decision.missed_count == 0 and decision.skipped == (T0 + hours(1),)
    assert decision.cursor == T0 + hours(1)  # passed: the next decision does not name it again
    assert decision.next_time == T0 + hours(2)
    again = decide(skipping(T0 + hours(1)), decision.cursor, T0 + hours(2))
    assert again.run == (T0 + hours(2),) and again.skipped == ()


def test_the_next_time_shown_is_the_next_one_not_skipped() -> None:
    decision = decide(skipping(T0 + hours(1), T0 + hours(2)), T0, T0 + hours(0.5))
    assert decision.next_time == T0 + hours(3) and decision.skipped == ()


def test_after_downtime_the_policy_ignores_skipped_times() -> None:
    """RunLatest runs the latest time that is not skipped; CatchUp catches up on the others."""
    latest = decide(skipping(T0 + hours(3)), T0, T0 + hours(3.5))
    assert latest.run == (T0 + hours(2),) and latest.missed_count == 1 and latest.skipped == (T0 + hours(3),)
    caught = decide(skipping(T0 + hours(2), missed=CATCH_UP, catch_up=5), T0, T0 + hours(3.5))
    assert caught.run == (T0 + hours(1), T0 + hours(3)) and caught.missed_count == 0


def test_a_skip_time_the_crons_do_not_have_skips_nothing() -> None:
    decision = decide(skipping(T0 + hours(1) + datetime.timedelta(minutes=30)), T0, T0 + hours(1.9))
    assert decision.run == (T0 + hours(1),) and decision.skipped == ()


def test_the_jitter_offset_is_stable_spread_and_within_bounds() -> None:
    offsets = [offset("team", f"p{i}", 30) for i in range(100)]
    assert offsets == [offset("team", f"p{i}", 30) for i in range(100)]  # the same after a restart
    assert all(datetime.timedelta() <= o <= datetime.timedelta(seconds=30) for o in offsets)
    assert len(set(offsets)) >= 20  # 100 packages over at least 20 distinct seconds
    assert offset("team", "p0", 30) != offset("other", "p0", 30) or offset("team", "p1", 30) != offset(
        "other", "p1", 30
    )
    assert offset("team", "p0", 0) == datetime.timedelta()
