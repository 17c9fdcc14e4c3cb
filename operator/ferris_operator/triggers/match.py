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
from dataclasses import dataclass
from typing import Any

from ferris_operator import reasons
from ferris_operator.bodies import TriggerBody, TriggerSpec
from ferris_operator.problems import Problem
from ferris_operator.records import Event

__all__ = ["Event", "Filter", "Target", "Trigger", "filter_of", "matched_type", "matches", "params_for", "run_name"]

MAX_NAME = 56  # the FerrisRun CRD's limit
MISSING = object()


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


def filter_of(spec: TriggerSpec) -> Filter:
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


@dataclass(frozen=True)
class Target:
    package: str
    params: dict[str, str] | None = None  # param name -> dotted path in the event's data


@dataclass(frozen=True)
class Trigger:
    namespace: str
    name: str
    uid: str
    filter: Filter
    targets: tuple[Target, ...]
    suspended: bool = False


def trigger_of(obj: TriggerBody) -> Trigger:
    """A FerrisTrigger object read, or ``InvalidTrigger`` naming the field."""
    meta, spec = obj["metadata"], obj.get("spec") or {}
    targets = []
    for index, item in enumerate(spec.get("targets") or []):
        package = str(((item or {}).get("packageRef") or {}).get("name") or "")
        if not package:
            raise Problem(reasons.INVALID_TRIGGER, f"spec.targets[{index}].packageRef.name: name the package to run")
        mapping = item.get("params")
        targets.append(Target(package, {str(k): str(v) for k, v in mapping.items()} if mapping else None))
    if not targets:
        raise Problem(reasons.INVALID_TRIGGER, "spec.targets: give at least one target with a packageRef")
    return Trigger(
        meta["namespace"], meta["name"], meta.get("uid", ""), filter_of(spec), tuple(targets), bool(spec.get("suspend"))
    )


def matched_type(rule: Filter, event: Event) -> str | None:
    """The event's type the trigger matched it by (it may have two names); None: no match."""
    if rule.source is not None and event.source != rule.source:
        return None
    if rule.subject is not None and event.subject != rule.subject:
        return None
    if not all(_at(event.data, c.path) == c.equals for c in rule.data):
        return None
    for name in (event.type, event.also_type):
        if name is None:
            continue
        if rule.type is not None and name != rule.type:
            continue
        if rule.type_prefix is not None and not name.startswith(rule.type_prefix):
            continue
        return name
    return None


def matches(rule: Filter, event: Event) -> bool:
    return matched_type(rule, event) is not None


def params_for(mapping: dict[str, str] | None, event: Event, origin_type: str | None = None) -> dict[str, Any]:
    """The run's params: the event's data (or the mapped parts of it) and the type it was
    matched by, as ``origin_event_type``."""
    if mapping:
        params = {}
        for name, path in mapping.items():
            value = _at(event.data, tuple(str(path).split(".")))
            if value is not MISSING:
                params[name] = value
    else:
        params = dict(event.data)
    params["origin_event_type"] = origin_type or event.type
    return params


def run_name(trigger: str, package: str, event: Event) -> str:
    """``<trigger>-<12 hex of the source, id and package>``: the same for a redelivered event."""
    digest = hashlib.sha256(f"{event.source}\0{event.id}\0{package}".encode()).hexdigest()[:12]
    return f"{trigger[: MAX_NAME - len(digest) - 1].rstrip('-.')}-{digest}"


def _at(data: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return MISSING
        data = data[part]
    return data
