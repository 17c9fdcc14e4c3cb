"""A package's ``spec.schedule`` read into a ``Schedule``, or a Problem that names the field.
Pure."""

from __future__ import annotations

import datetime
import itertools
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ferris_operator import reasons
from ferris_operator.bodies import PackageSpec
from ferris_operator.problems import Problem
from ferris_operator.schedules.cron import CronError, parse
from ferris_operator.schedules.due import CATCH_UP, MAX_JITTER_SECONDS, MAX_SKIP, RUN_LATEST, Schedule, merged, offset


@dataclass(frozen=True)
class PackageSchedule:
    schedule: Schedule
    suspend: bool = False
    params: dict[str, Any] = field(default_factory=dict)
    jitter_seconds: int = 0  # runs start up to this long after their time (schedules.due.offset)


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
            skip_times(raw.get("skip") or []),
        ),
        bool(raw.get("suspend", False)),
        dict(raw.get("params") or {}),
        min(max(int(raw.get("jitterSeconds") or 0), 0), MAX_JITTER_SECONDS),
    )


def skip_times(texts: list[str]) -> frozenset[datetime.datetime]:
    """``spec.schedule.skip`` as instants. A time the schedule does not have skips nothing (the
    crons may have changed since it was added); ``ferris schedules skip`` adds only real ones."""
    if len(texts) > MAX_SKIP:
        raise Problem(reasons.INVALID_SCHEDULE, f"spec.schedule.skip: at most {MAX_SKIP} times; remove past ones")
    times = set()
    for index, text in enumerate(texts):
        moment = parse_time(str(text))
        if moment is None:
            raise Problem(
                reasons.INVALID_SCHEDULE,
                f"spec.schedule.skip[{index}]: {text!r} is not an RFC 3339 time with a zone"
                " (for example 2026-12-24T09:00:00Z or 2026-12-24T10:00:00+01:00)",
            )
        times.add(moment)
    return frozenset(times)


def parse_time(text: str) -> datetime.datetime | None:
    """An RFC 3339 time with a zone, in UTC; None for anything else."""
    try:
        moment = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return moment.astimezone(datetime.UTC) if moment.tzinfo is not None else None


def upcoming(
    package: PackageSchedule, namespace: str, name: str, after: datetime.datetime, count: int
) -> list[datetime.datetime]:
    """When the next ``count`` scheduled runs start (their times plus the package's offset),
    skipped times left out; none while suspended."""
    if package.suspend:
        return []
    shift = offset(namespace, name, package.jitter_seconds)
    return [moment + shift for moment in itertools.islice(merged(package.schedule, after - shift), count)]
