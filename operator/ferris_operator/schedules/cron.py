"""Five-field cron expressions, and the instants they name in a time zone. Pure.

Fields: minute (0-59), hour (0-23), day of month (1-31), month (1-12 or JAN-DEC), day of week
(0-7 or SUN-SAT, 0 and 7 both Sunday); each ``*``, a value, a range ``a-b``, a step ``*/n`` or
``a-b/n`` or ``a/n``, or a comma list of those. When both day fields are restricted, a day
matches if either does (as cron has always done). ``@hourly``, ``@daily``/``@midnight``,
``@weekly``, ``@monthly`` and ``@yearly``/``@annually`` stand for their expressions.

Daylight saving time, in the schedule's zone: a wall-clock time that happens twice (the
autumn's repeated hour) runs once, at its first occurrence; a wall-clock time that does not
happen (the spring's skipped hour) runs once, at the transition, however many of its minutes
the expression names.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

UTC = datetime.UTC
FIELDS = ("minute", "hour", "day of month", "month", "day of week")
BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
SEARCH_YEARS = 5  # an expression with no time within this many years never runs (say, 30 February)


class CronError(ValueError):
    """An expression that cannot be a schedule; the message names the field and the fix."""


@dataclass(frozen=True)
class Cron:
    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool  # day of month is *
    any_weekday: bool  # day of week is *

    def day_matches(self, day: datetime.date) -> bool:
        if day.month not in self.months:
            return False
        by_date = day.day in self.days
        by_weekday = (day.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return by_date and by_weekday
        return by_date or by_weekday


def parse(expression: str) -> Cron:
    text = " ".join(expression.split())
    text = MACROS.get(text.lower(), text)
    parts = text.split(" ")
    if len(parts) != 5:
        raise CronError(
            f"{expression!r} has {len(parts)} fields; a schedule has 5: minute hour day-of-month month day-of-week"
            " (for example '30 2 * * 1-5')"
        )
    values = [_field(part, index) for index, part in enumerate(parts)]
    weekdays = frozenset(0 if d == 7 else d for d in values[4])
    return Cron(
        expression=expression,
        minutes=frozenset(values[0]),
        hours=frozenset(values[1]),
        days=frozenset(values[2]),
        months=frozenset(values[3]),
        weekdays=weekdays,
        any_day=parts[2] == "*",
        any_weekday=parts[4] == "*",
    )


def _field(text: str, index: int) -> set[int]:
    name, (low, high) = FIELDS[index], BOUNDS[index]
    chosen: set[int] = set()
    for item in text.split(","):
        chosen |= _item(item, index, low, high, name)
    return chosen


def _item(item: str, index: int, low: int, high: int, name: str) -> set[int]:
    where = f"{name} field {item!r}"
    base, _, step_text = item.partition("/")
    step = 1
    if step_text:
        if not step_text.isdigit() or int(step_text) == 0:
            raise CronError(f"{where}: the step after '/' must be a whole number above 0")
        step = int(step_text)
    if base == "*":
        start, end = low, high
    elif "-" in base:
        first, _, last = base.partition("-")
        start, end = _value(first, index, low, high, where), _value(last, index, low, high, where)
        if start > end:
            raise CronError(f"{where}: the range runs backwards; write {end}-{start}")
    else:
        start = _value(base, index, low, high, where)
        end = high if step_text else start
    return set(range(start, end + 1, step))


def _value(text: str, index: int, low: int, high: int, where: str) -> int:
    names = MONTHS if index == 3 else DAYS if index == 4 else ()
    if text.upper() in names:
        return names.index(text.upper()) + (1 if index == 3 else 0)
    if not text.isdigit():
        allowed = f"{low}-{high}" + (f" or {names[0]}-{names[-1]}" if names else "")
        raise CronError(f"{where}: {text!r} is not a value ({allowed})")
    value = int(text)
    if not low <= value <= high:
        raise CronError(f"{where}: {value} is out of range {low}-{high}")
    return value


def instants(cron: Cron, zone: ZoneInfo, after: datetime.datetime) -> Iterator[datetime.datetime]:
    """The instants (UTC, ascending, each once) at which ``cron`` runs in ``zone``, strictly
    after ``after``. Ends after SEARCH_YEARS without a match."""
    window = datetime.timedelta(days=366 * SEARCH_YEARS)
    local_day = after.astimezone(zone).date()
    last_day = local_day + window
    previous: datetime.datetime | None = None
    while local_day <= last_day:
        if cron.day_matches(local_day):
            last_day = local_day + window
            for hour in sorted(cron.hours):
                for minute in sorted(cron.minutes):
                    wall = datetime.datetime.combine(local_day, datetime.time(hour, minute))
                    instant = resolve(wall, zone)
                    if instant > after and instant != previous:
                        previous = instant
                        yield instant
        local_day += datetime.timedelta(days=1)


def next_after(cron: Cron, zone: ZoneInfo, after: datetime.datetime) -> datetime.datetime | None:
    return next(instants(cron, zone, after), None)


def resolve(wall: datetime.datetime, zone: ZoneInfo) -> datetime.datetime:
    """The instant (UTC) a naive wall-clock time stands for in ``zone``: the first of two when
    it happens twice, the transition when it does not happen."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first  # it happens (fold=0 is its first occurrence when it happens twice)
    # In a gap: fold=1 reads it with the offset after the transition, so it lies before the
    # transition and ``first`` after it. Transitions fall on whole seconds: search those.
    low = int(wall.replace(tzinfo=zone, fold=1).timestamp())
    high = int(first.timestamp())
    after_offset = first.astimezone(zone).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.datetime.fromtimestamp(middle, zone).utcoffset() == after_offset:
            high = middle
        else:
            low = middle
    return datetime.datetime.fromtimestamp(high, UTC)
