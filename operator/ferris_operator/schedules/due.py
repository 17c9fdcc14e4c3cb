"""What a package's schedule asks for at a given moment. Pure: the clock is passed in.

The cursor is the last scheduled time already decided on (run or missed), kept in the
package's status; every time after it and up to now is due. Which of them run:

- ``RunLatest`` (the default): the latest, if it is within ``startingDeadlineSeconds`` (no
  deadline: always); the others are missed.
- ``Skip``: only a time that is on time (within the deadline, 60 s when none is set); after
  downtime, nothing.
- ``CatchUp``: every due time within the deadline, oldest first, at most ``maxCatchUp`` (the
  most recent ones); the others are missed.

A time in ``skip`` is no scheduled time at all: it makes no run, counts as neither due nor
missed, and is reported once, when the cursor passes it.

However long the downtime, the due times are counted, never all held in memory: a schedule of
every minute down for a year costs a count and the last ``maxCatchUp`` times."""

from __future__ import annotations

import datetime
import hashlib
import heapq
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from ferris_operator.schedules.cron import Cron, instants

RUN_LATEST, SKIP, CATCH_UP = "RunLatest", "Skip", "CatchUp"
ON_TIME = datetime.timedelta(seconds=60)  # Skip's idea of "on time" when no deadline is set
MAX_NAME = 56  # the FerrisRun CRD's limit (its children add a suffix)
KEPT_MISSED = 10  # missed times named one by one; beyond, only counted
MAX_SKIP = 16  # times a schedule may skip (the CRD's maxItems)
MAX_JITTER_SECONDS = 3600  # the CRD's maximum of jitterSeconds


@dataclass(frozen=True)
class Schedule:
    crons: tuple[Cron, ...]
    zone: ZoneInfo
    missed: str = RUN_LATEST
    max_catch_up: int = 1
    starting_deadline: datetime.timedelta | None = None
    skip: frozenset[datetime.datetime] = frozenset()  # times that make no run (UTC)


@dataclass(frozen=True)
class Decision:
    run: tuple[datetime.datetime, ...]  # scheduled times to start now, oldest first
    missed: tuple[datetime.datetime, ...]  # the first KEPT_MISSED times not run, oldest first
    missed_count: int  # all times not run
    cursor: datetime.datetime  # the new last scheduled time decided on
    next_time: datetime.datetime | None  # the first scheduled time after now
    skipped: tuple[datetime.datetime, ...] = ()  # times in the schedule's skip list passed now
    wake: datetime.datetime | None = None  # the first scheduled time after now, skipped or not


def merged(schedule: Schedule, after: datetime.datetime, skipped_too: bool = False) -> Iterator[datetime.datetime]:
    """Every cron's instants after ``after``, ascending, each once; those in the skip list only
    when ``skipped_too``."""
    previous = None
    for instant in heapq.merge(*(instants(cron, schedule.zone, after) for cron in schedule.crons)):
        if instant != previous:
            previous = instant
            if skipped_too or instant not in schedule.skip:
                yield instant


def decide(schedule: Schedule, cursor: datetime.datetime, now: datetime.datetime, suspended: bool = False) -> Decision:
    """``suspended``: every due time is missed (and the cursor still moves on, so that
    resuming does not run what passed while suspended)."""
    keep = max(1, schedule.max_catch_up) if schedule.missed == CATCH_UP else 1
    recent: deque[datetime.datetime] = deque(maxlen=keep)
    early: list[datetime.datetime] = []  # the oldest due times, named in the missed list
    count = 0
    upcoming = None
    skipped: list[datetime.datetime] = []
    passed = cursor  # the latest time up to now, skipped or not
    wake = None
    for instant in merged(schedule, cursor, skipped_too=True):
        if instant > now:
            wake = wake or instant
            if instant in schedule.skip:
                continue
            upcoming = instant
            break
        passed = instant
        if instant in schedule.skip:
            skipped.append(instant)
            continue
        count += 1
        if len(recent) == keep and len(early) < KEPT_MISSED:
            early.append(recent[0])
        recent.append(instant)
    if count == 0:
        return Decision((), (), 0, passed, upcoming, tuple(skipped), wake)
    deadline = schedule.starting_deadline
    if schedule.missed == SKIP:
        deadline = deadline or ON_TIME
    run = () if suspended else tuple(t for t in recent if deadline is None or now - t <= deadline)
    late = [t for t in recent if t not in run]
    missed = tuple((early + late)[:KEPT_MISSED])
    return Decision(run, missed, count - len(run), passed, upcoming, tuple(skipped), wake)


def offset(namespace: str, name: str, jitter_seconds: int) -> datetime.timedelta:
    """How long after each scheduled time a package with ``jitterSeconds`` starts its run: the
    same for that package on every replica and after every restart (a digest of its namespace
    and name), spread evenly over 0..jitter_seconds across packages."""
    if jitter_seconds <= 0:
        return datetime.timedelta()
    digest = hashlib.sha256(f"{namespace}/{name}".encode()).digest()
    return datetime.timedelta(seconds=int.from_bytes(digest[:8], "big") % (jitter_seconds + 1))


def run_name(package: str, scheduled: datetime.datetime) -> str:
    """The FerrisRun of ``package`` for one scheduled time: the same name however often it is
    made, so creating it twice is a no-op (``<package>-<YYYYMMDDHHMM>`` in UTC, the package
    shortened with a digest of its full name when the result would pass MAX_NAME)."""
    stamp = scheduled.astimezone(datetime.UTC).strftime("%Y%m%d%H%M")
    name = f"{package}-{stamp}"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(package.encode()).hexdigest()[:8]
    return f"{package[: MAX_NAME - len(stamp) - len(digest) - 2]}-{digest}-{stamp}"
