"""Which FerrisTriggers an event matches, the params of the run it starts, and that run's name.
Pure.

A trigger's ``spec.filter`` holds CloudEvents attributes: ``type`` (exact) or ``typePrefix``,
``source``, ``subject``, and ``data``: conditions on the event's data, each a dotted ``path``
with ``equals``; all must hold. A trigger's runs get the event's data as params (as in the
Ferris executor) plus ``origin_event_type``, unless ``spec.params`` maps names to dotted paths
of the data. The run's name derives from the trigger, the event's source and its id, so a
redelivered event makes no second run."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from ferris_operator import reasons
from ferris_operator.problems import Problem

MAX_NAME = 56  # the FerrisRun CRD's limit
MISSING = object()


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    source: str
    namespace: str
    subject: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    depth: int = 0  # how many runs of a chain came before the one that sent it


@dataclass(frozen=True)
class Condition:
    path: tuple[str, ...]
    equals: Any


@dataclass(frozen=True)
class Filter:
    type: str | None = None
    type_prefix: str | None = None
    source: str | None = None
    subject: str | None = None
    data: tuple[Condition, ...] = ()


def filter_of(spec: dict[str, Any]) -> Filter:
    """``spec.filter`` read, or ``InvalidTrigger`` naming the field."""
    raw = spec.get("filter") or {}
    if raw.get("type") and raw.get("typePrefix"):
        raise Problem(reasons.INVALID_TRIGGER, "spec.filter: give type or typePrefix, not both")
    conditions = []
    for index, item in enumerate(raw.get("data") or []):
        path = str(item.get("path") or "")
        if not path or any(not part for part in path.split(".")):
            raise Problem(
                reasons.INVALID_TRIGGER, f"spec.filter.data[{index}].path: {path!r} must be a dotted path such as 'a.b'"
            )
        if "equals" not in item:
            raise Problem(reasons.INVALID_TRIGGER, f"spec.filter.data[{index}]: give the value in 'equals'")
        conditions.append(Condition(tuple(path.split(".")), item["equals"]))
    return Filter(raw.get("type"), raw.get("typePrefix"), raw.get("source"), raw.get("subject"), tuple(conditions))


def matches(rule: Filter, event: Event) -> bool:
    if rule.type is not None and event.type != rule.type:
        return False
    if rule.type_prefix is not None and not event.type.startswith(rule.type_prefix):
        return False
    if rule.source is not None and event.source != rule.source:
        return False
    if rule.subject is not None and event.subject != rule.subject:
        return False
    return all(_at(event.data, c.path) == c.equals for c in rule.data)


def params_for(mapping: dict[str, str] | None, event: Event) -> dict[str, Any]:
    """The run's params: the event's data (or the mapped parts of it) and its type."""
    if mapping:
        params = {}
        for name, path in mapping.items():
            value = _at(event.data, tuple(str(path).split(".")))
            if value is not MISSING:
                params[name] = value
    else:
        params = dict(event.data)
    params["origin_event_type"] = event.type
    return params


def run_name(trigger: str, event: Event) -> str:
    """``<trigger>-<12 hex of the source and id>``: the same for a redelivered event."""
    digest = hashlib.sha256(f"{event.source}\0{event.id}".encode()).hexdigest()[:12]
    return f"{trigger[: MAX_NAME - len(digest) - 1].rstrip('-.')}-{digest}"


def _at(data: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return MISSING
        data = data[part]
    return data
