"""Five-field cron expressions and the instants they name in a time zone, on top of cronsim
(a maintained evaluator that follows Debian's cron). What this module adds is Ferris's own:
errors that name the field and what it may hold, the ``@daily``-style shorthands, and one
rule for daylight saving time.

Daylight saving time, in the schedule's zone: a wall-clock time that happens twice (the
autumn's repeated hour) runs once, at its first occurrence, whatever the expression (Debian's
cron runs an hourly job in both hours; a Ferris schedule does not); a wall-clock time that
does not happen (the spring's skipped hour) runs once, at the transition, however many of its
minutes the expression names (as cronsim does).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

UTC = datetime.UTC
FIELDS = (
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31"),
    ("month", "1-12 or JAN-DEC"),
    ("day-of-week", "0-7 or SUN-SAT, 0 and 7 both Sunday"),
)
SHORTHANDS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}


class CronError(ValueError):
    """An expression that cannot be a schedule; the message names the field and the fix."""


@dataclass(frozen=True)
class Cron:
    expression: str  # as written
    fields: str  # the five fields cronsim evaluates


def parse(expression: str) -> Cron:
    text = " ".join(expression.split())
    text = SHORTHANDS.get(text.lower(), text)
    parts = text.split(" ")
    if len(parts) != len(FIELDS):
        raise CronError(
            f"{expression!r} has {len(parts)} fields; a schedule has 5: minute hour day-of-month month"
            " day-of-week (for example '30 2 * * 1-5'), or one of " + ", ".join(SHORTHANDS)
        )
    try:
        CronSim(text, datetime.datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as exc:
        raise CronError(_explain(expression, parts, str(exc))) from None
    return Cron(expression, text)


def _explain(expression: str, parts: list[str], error: str) -> str:
    for (name, allowed), part in zip(FIELDS, parts, strict=True):
        if error == f"Bad {name}":
            return (
                f"{expression!r}: the {name} field {part!r} is not valid, or names a day that never comes"
                f" (values {allowed}; '*', lists 'a,b', ranges 'a-b' and steps '*/n' or 'a-b/n')"
            )
    return f"{expression!r}: {error}"


def instants(cron: Cron, zone: ZoneInfo, after: datetime.datetime) -> Iterator[datetime.datetime]:
    """The instants (UTC, ascending, each once) at which ``cron`` runs in ``zone``, strictly
    after ``after``."""
    for local in CronSim(cron.fields, after.astimezone(zone)):
        if local.fold == 1 and local.replace(fold=0).utcoffset() != local.utcoffset():
            continue  # the second occurrence of a repeated wall-clock time
        yield local.astimezone(UTC)


def next_after(cron: Cron, zone: ZoneInfo, after: datetime.datetime) -> datetime.datetime | None:
    return next(instants(cron, zone, after), None)
