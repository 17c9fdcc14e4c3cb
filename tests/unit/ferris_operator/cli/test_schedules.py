"""`ferris schedules`: the table from packages as the API server returns them, and the coming
times in the schedule's own zone."""

from __future__ import annotations

import datetime
from typing import Any

from ferris_operator.cli.schedules import table

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
