"""Cron expressions (evaluated by cronsim): errors that name the field, the instants they name,
and Ferris's rule for daylight saving time (Europe/Berlin: 29 March 2026 skips 02:00-03:00, 25 October 2026 repeats
02:00-03:00; America/New_York the same at other dates)."""

from __future__ import annotations

import datetime
from itertools import islice
from zoneinfo import ZoneInfo

import pytest

from ferris_operator.schedules.cron import CronError, instants, next_after, parse

UTC = datetime.UTC
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
UTC_ZONE = ZoneInfo("UTC")


def at(*args: int, zone: ZoneInfo | datetime.timezone = UTC) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=zone).astimezone(UTC)  # type: ignore[misc]


def first(expression: str, after: datetime.datetime, n: int, zone: ZoneInfo = UTC_ZONE) -> list[str]:
    return [
        t.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") for t in islice(instants(parse(expression), zone, after), n)
    ]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("*/15 * * * *", ["2026-01-05 10:15 UTC", "2026-01-05 10:30 UTC", "2026-01-05 10:45 UTC"]),
        ("0 9-17/4 * * MON-FRI", ["2026-01-05 13:00 UTC", "2026-01-05 17:00 UTC", "2026-01-06 09:00 UTC"]),
        ("30 2 1,15 * *", ["2026-01-15 02:30 UTC", "2026-02-01 02:30 UTC", "2026-02-15 02:30 UTC"]),
        ("0 0 * * 7", ["2026-01-11 00:00 UTC", "2026-01-18 00:00 UTC", "2026-01-25 00:00 UTC"]),
        ("0 0 13 * FRI", ["2026-01-09 00:00 UTC", "2026-01-13 00:00 UTC", "2026-01-16 00:00 UTC"]),
        ("@monthly", ["2026-02-01 00:00 UTC", "2026-03-01 00:00 UTC", "2026-04-01 00:00 UTC"]),
        ("0 12 29 FEB *", ["2028-02-29 12:00 UTC", "2032-02-29 12:00 UTC", "2036-02-29 12:00 UTC"]),
        ("0 6 31 * *", ["2026-01-31 06:00 UTC", "2026-03-31 06:00 UTC", "2026-05-31 06:00 UTC"]),
        ("5/20 0 1 jan *", ["2027-01-01 00:05 UTC", "2027-01-01 00:25 UTC", "2027-01-01 00:45 UTC"]),
    ],
)
def test_instants_of_an_expression(expression: str, expected: list[str]) -> None:
    assert first(expression, at(2026, 1, 5, 10, 0), 3) == expected


def test_an_instant_equal_to_after_is_not_repeated() -> None:
    assert next_after(parse("0 * * * *"), UTC_ZONE, at(2026, 1, 5, 10, 0)) == at(2026, 1, 5, 11, 0)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * * *", "has 4 fields; a schedule has 5"),
        ("* * * * * *", "has 6 fields; a schedule has 5"),
        ("60 * * * *", "the minute field '60' is not valid"),
        ("* 24 * * *", "the hour field '24' is not valid"),
        ("* * 0 * *", "the day-of-month field '0' is not valid"),
        ("* * * 13 *", "the month field '13' is not valid"),
        ("* * * FOO *", "values 1-12 or JAN-DEC"),
        ("* * * * 8", "the day-of-week field '8' is not valid"),
        ("*/0 * * * *", "the minute field '*/0' is not valid"),
        ("0 0 30 2 *", "the day-of-month field '30' is not valid, or names a day that never comes"),
    ],
)
def test_a_bad_expression_names_the_field_and_what_it_may_hold(expression: str, message: str) -> None:
    with pytest.raises(CronError) as refused:
        parse(expression)
    assert message in str(refused.value)


def test_the_skipped_hour_runs_once_at_the_transition() -> None:
    # 02:00-02:59 does not happen in Berlin on 29 March 2026: 01:59 CET is followed by 03:00 CEST.
    assert first("30 2 * * *", at(2026, 3, 28, 12, 0), 3, BERLIN) == [
        "2026-03-29 03:00 CEST",
        "2026-03-30 02:30 CEST",
        "2026-03-31 02:30 CEST",
    ]
    # Every quarter of the skipped hour falls on the transition: one run there, then 03:00's own
    # time is the same instant and is not run twice.
    assert first("*/15 2-3 29 3 *", at(2026, 3, 29, 0, 0), 5, BERLIN) == [
        "2026-03-29 03:00 CEST",
        "2026-03-29 03:15 CEST",
        "2026-03-29 03:30 CEST",
        "2026-03-29 03:45 CEST",
        "2027-03-29 02:00 CEST",
    ]
    assert next_after(parse("30 2 * * *"), NEW_YORK, at(2026, 3, 8, 5, 0)) == at(2026, 3, 8, 7, 0)  # 03:00 EDT


def test_the_repeated_hour_runs_once_at_its_first_occurrence() -> None:
    # 02:00-02:59 happens twice in Berlin on 25 October 2026 (CEST, then CET again).
    assert first("30 2 * * *", at(2026, 10, 24, 12, 0), 3, BERLIN) == [
        "2026-10-25 02:30 CEST",
        "2026-10-26 02:30 CET",
        "2026-10-27 02:30 CET",
    ]
    hourly = [t.isoformat() for t in islice(instants(parse("0 * * * *"), BERLIN, at(2026, 10, 24, 23, 30)), 4)]
    assert hourly == [  # 02:00 once (CEST, 00:00 UTC); the second 02:00 (CET, 01:00 UTC) is not a new run
        "2026-10-25T00:00:00+00:00",
        "2026-10-25T02:00:00+00:00",
        "2026-10-25T03:00:00+00:00",
        "2026-10-25T04:00:00+00:00",
    ]
    assert [t.astimezone(BERLIN).strftime("%H:%M %Z") for t in map(datetime.datetime.fromisoformat, hourly)] == [
        "02:00 CEST",
        "03:00 CET",
        "04:00 CET",
        "05:00 CET",
    ]
