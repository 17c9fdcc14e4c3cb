"""A package's ``spec.schedule`` read into a ``Schedule``, or a Problem that names the field.
Pure."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ferris_operator import reasons
from ferris_operator.bodies import PackageSpec
from ferris_operator.problems import Problem
from ferris_operator.schedules.cron import CronError, parse
from ferris_operator.schedules.due import CATCH_UP, RUN_LATEST, Schedule


@dataclass(frozen=True)
class PackageSchedule:
    schedule: Schedule
    suspend: bool = False
    params: dict[str, Any] = field(default_factory=dict)


def schedule_of(spec: PackageSpec) -> PackageSchedule | None:
    """None for a package without a schedule."""
    raw = spec.get("schedule")
    if not raw:
        return None
    crons = []
    for index, expression in enumerate(raw.get("crons") or []):
        try:
            crons.append(parse(str(expression)))
        except CronError as exc:
            raise Problem(reasons.INVALID_SCHEDULE, f"spec.schedule.crons[{index}]: {exc}") from None
    if not crons:
        raise Problem(reasons.INVALID_SCHEDULE, "spec.schedule.crons: name at least one cron expression")
    zone_name = str(raw.get("timeZone") or "UTC")
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Problem(
            reasons.INVALID_SCHEDULE,
            f"spec.schedule.timeZone: {zone_name!r} is not an IANA time zone (for example 'Europe/Berlin' or 'UTC')",
        ) from None
    missed = str(raw.get("missed") or RUN_LATEST)
    deadline = raw.get("startingDeadlineSeconds")
    return PackageSchedule(
        Schedule(
            tuple(crons),
            zone,
            missed,
            int(raw.get("maxCatchUp") or 1) if missed == CATCH_UP else 1,
            datetime.timedelta(seconds=int(deadline)) if deadline else None,
        ),
        bool(raw.get("suspend", False)),
        dict(raw.get("params") or {}),
    )
