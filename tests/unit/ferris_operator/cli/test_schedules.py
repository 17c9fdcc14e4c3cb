"""`ferris schedules`: the table from packages as the API server returns them, and the coming
times in the schedule's own zone."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from ferris_operator import model
from ferris_operator.bodies import package_body
from ferris_operator.cli.main import build_parser
from ferris_operator.cli.schedules import backfill_times, skip_list, table
from ferris_operator.problems import Problem

NOW = datetime.datetime(2026, 11, 30, 10, 0, 20, tzinfo=datetime.UTC)


def package(name: str, schedule: dict[str, Any] | None, status: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"scripts": [{"name": "a.py"}]}
    if schedule:
        spec["schedule"] = schedule
    return {"metadata": {"name": name}, "spec": spec, "status": {"schedule": status} if status else {}}


def test_only_scheduled_packages_are_listed_with_their_next_last_and_missed() -> None:
    lines = table(
        [
            package("plain", None),
            package(
                "nightly",
                {"crons": ["30 2 * * *"], "timeZone": "Europe/Berlin"},
                {
                    "nextScheduleTime": "2026-12-01T01:30:00Z",
                    "lastScheduledRun": "nightly-202611300130",
                    "missedCount": 2,
                },
            ),
            package("paused", {"crons": ["@hourly", "*/15 * * * *"], "suspend": True}),
        ],
        0,
        NOW,
    )
    assert lines[0].split() == ["PACKAGE", "CRONS", "TIME", "ZONE", "SUSPENDED", "NEXT", "LAST", "RUN", "MISSED"]
    assert lines[1].split() == [
        "nightly", "30", "2", "*", "*", "*", "Europe/Berlin", "no", "2026-12-01T01:30:00Z", "nightly-202611300130", "2"
    ]  # fmt: skip
    assert lines[2].split()[0] == "paused" and "@hourly | */15 * * * *" in lines[2] and lines[2].split()[-4] == "yes"
    assert len(lines) == 3


def test_the_next_times_are_shown_in_the_schedules_zone() -> None:
    lines = table([package("nightly", {"crons": ["30 2 * * *"], "timeZone": "Europe/Berlin"})], 2, NOW)
    assert lines[-2:] == [
        "nightly: 2026-12-01T02:30:00+01:00  (2026-12-01T01:30:00Z)",
        "nightly: 2026-12-02T02:30:00+01:00  (2026-12-02T01:30:00Z)",
    ]
    broken = table([package("broken", {"crons": ["61 * * * *"]})], 1, NOW)
    assert broken[-1].startswith("broken: spec.schedule.crons[0]: '61 * * * *': the minute field '61'")


def test_skip_next_adds_the_next_time_not_skipped_yet_and_drops_past_ones() -> None:
    spec = {"schedule": {"crons": ["0 * * * *"], "skip": ["2026-11-30T09:00:00Z", "2026-11-30T11:00:00Z"]}}
    skip, time = skip_list(spec, None, NOW)  # type: ignore[arg-type]  # a plain dict as the API server sends it
    assert time == datetime.datetime(2026, 11, 30, 12, tzinfo=datetime.UTC)  # 11:00 is skipped already
    assert skip == ["2026-11-30T11:00:00Z", "2026-11-30T12:00:00Z"]  # 09:00 has passed
    skip, time = skip_list(spec, "2026-11-30T14:00:00+01:00", NOW)  # type: ignore[arg-type]
    assert model.timestamp(time) == "2026-11-30T13:00:00Z" and skip[-1] == "2026-11-30T13:00:00Z"


def test_skip_refuses_what_would_skip_nothing_naming_the_fix() -> None:
    hourly = {"schedule": {"crons": ["0 * * * *"]}}
    for at, says in (
        ("2026-11-30T10:30:00Z", "is not a scheduled time of the package; its next times are 2026-11-30T11:00:00Z"),
        ("2026-11-30T09:00:00Z", "has passed"),
        ("noon", "give an RFC 3339 time with a zone"),
    ):
        with pytest.raises(Problem) as refused:
            skip_list(hourly, at, NOW)  # type: ignore[arg-type]
        assert says in refused.value.message, refused.value.message
    with pytest.raises(Problem, match=r"has no spec\.schedule"):
        skip_list({}, None, NOW)
    full = {"schedule": {"crons": ["0 * * * *"], "skip": [f"2026-12-01T{h:02d}:00:00Z" for h in range(16)]}}
    with pytest.raises(Problem, match="already skips 16 times"):
        skip_list(full, None, NOW)  # type: ignore[arg-type]


def test_the_skip_verb_parses_after_the_listing_options() -> None:
    args = build_parser().parse_args(["schedules", "skip", "nightly", "--next", "-n", "team"])
    assert (args.handler.__name__, args.package, args.skip_next, args.at, args.namespace) == (
        "cmd_skip",
        "nightly",
        True,
        None,
        "team",
    )
    listing = build_parser().parse_args(["schedules", "--next", "3", "-n", "team"])
    assert listing.handler.__name__ == "cmd_schedules" and listing.next == 3


def decided(schedule: dict[str, Any], until: str = "2026-11-30T10:00:00Z") -> Any:
    return package_body(
        {
            "metadata": {"name": "nightly"},
            "spec": {"schedule": schedule},
            "status": {"schedule": {"decidedUntil": until}},
        }
    )


def test_backfill_takes_every_scheduled_time_of_the_range_inclusive_skips_left_out() -> None:
    hourly = decided({"crons": ["0 * * * *"], "skip": ["2026-11-30T03:00:00Z"]})
    times = backfill_times(hourly, "2026-11-30T00:00:00Z", "2026-11-30T05:00:00+00:00", False)
    assert [model.timestamp(t) for t in times] == [
        "2026-11-30T00:00:00Z",
        "2026-11-30T01:00:00Z",
        "2026-11-30T02:00:00Z",
        "2026-11-30T04:00:00Z",
        "2026-11-30T05:00:00Z",
    ]


def test_backfill_refuses_what_is_the_schedules_own_too_much_or_suspended_naming_the_fix() -> None:
    hourly = {"crons": ["0 * * * *"]}
    for package, start, end, says in (
        (decided(hourly), "2026-11-30T09:00:00Z", "2026-11-30T11:00:00Z", "later times are the schedule's own to run"),
        (decided(hourly), "2026-11-30T09:00:00Z", "2026-11-30T08:00:00Z", "--from is after --to"),
        (decided(hourly), "yesterday", "2026-11-30T08:00:00Z", "--from 'yesterday': give an RFC 3339 time"),
        (decided({"crons": ["* * * * *"]}), "2026-11-29T00:00:00Z", "2026-11-30T00:00:00Z", "more than 1000"),
        (decided({**hourly, "suspend": True}), "2026-11-30T00:00:00Z", "2026-11-30T01:00:00Z", "add --force"),
        (
            package_body({"metadata": {"name": "n"}, "spec": {"schedule": hourly}}),
            "2026-11-30T00:00:00Z",
            "2026-11-30T01:00:00Z",
            "not taken up",
        ),
    ):
        with pytest.raises(Problem) as refused:
            backfill_times(package, start, end, False)
        assert says in refused.value.message, refused.value.message
    suspended = decided({**hourly, "suspend": True})
    assert len(backfill_times(suspended, "2026-11-30T00:00:00Z", "2026-11-30T01:00:00Z", True)) == 2
