"""Which FerrisTriggers an event matches, the params of the run it starts, and that run's name.
Pure.

A trigger's ``spec.filter`` holds CloudEvents attributes: ``type`` (exact) or ``typePrefix``,
``source``, ``subject``, and ``data``: conditions on the event's data, each a dotted ``path``
with ``equals``; all must hold. A trigger's runs get the event's data as params (as in the
Ferris executor) plus ``origin_event_type``, unless ``spec.params`` maps names to dotted paths
of the data. The run's name derives from the trigger, the event's source and its id, so a
redelivered event makes no second run.

A trigger with ``spec.join`` instead waits for several events: one per named filter, with the
same value at ``correlate.path``, within ``within``; its run's params hold each event's data
under its filter's name (``join_params``)."""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from ferris_operator import reasons
from ferris_operator.bodies import TriggerBody, TriggerFilter, TriggerSpec
from ferris_operator.problems import Problem
from ferris_operator.records import Event

__all__ = [
    "Event",
    "Filter",
    "Join",
    "Target",
    "Trigger",
    "correlation_of",
    "filter_of",
    "join_params",
    "matched_type",
    "matches",
    "params_for",
    "run_name",
]

MAX_NAME = 56  # the FerrisRun CRD's limit
MISSING = object()
WITHIN = re.compile(r"^([1-9][0-9]{0,5})(s|m|h|d)$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_WITHIN = datetime.timedelta(days=30)
MAX_CORRELATION = 256  # characters of a joining value kept (a longer one is joined by its digest)


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
    return _filter(spec.get("filter") or {}, "spec.filter")


def _filter(raw: TriggerFilter, field: str) -> Filter:
    if raw.get("type") and raw.get("typePrefix"):
        raise Problem(reasons.INVALID_TRIGGER, f"{field}: give type or typePrefix, not both")
    conditions = []
    for index, item in enumerate(raw.get("data") or []):
        path = str(item.get("path") or "")
        if not path or any(not part for part in path.split(".")):
            raise Problem(
                reasons.INVALID_TRIGGER, f"{field}.data[{index}].path: {path!r} must be a dotted path such as 'a.b'"
            )
        if "equals" not in item:
            raise Problem(reasons.INVALID_TRIGGER, f"{field}.data[{index}]: give the value in 'equals'")
        conditions.append(Condition(tuple(path.split(".")), item["equals"]))
    return Filter(raw.get("type"), raw.get("typePrefix"), raw.get("source"), raw.get("subject"), tuple(conditions))


@dataclass(frozen=True)
class Join:
    """``spec.join``: the named filters, where the joining value is, and the window."""

    parts: tuple[tuple[str, Filter], ...]
    correlate: tuple[str, ...]  # ("data", "order_id"), ("subject",) or ("source",)
    within: datetime.timedelta

    @property
    def names(self) -> frozenset[str]:
        return frozenset(name for name, _ in self.parts)


def join_of(spec: TriggerSpec) -> Join | None:
    """``spec.join`` read (None: the trigger has a filter), or ``InvalidTrigger`` naming the field."""
    raw = spec.get("join")
    if not raw:
        return None
    if spec.get("filter"):
        raise Problem(reasons.INVALID_TRIGGER, "spec: give filter or join, not both")
    parts: list[tuple[str, Filter]] = []
    for index, item in enumerate(raw.get("filters") or []):
        name = str(item.get("name") or "")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", name) or name in {n for n, _ in parts}:
            raise Problem(
                reasons.INVALID_TRIGGER, f"spec.join.filters[{index}].name: {name!r} must be a param name, each once"
            )
        parts.append((name, _filter(item, f"spec.join.filters[{index}]")))
    if len(parts) < 2:
        raise Problem(reasons.INVALID_TRIGGER, "spec.join.filters: give at least two filters to join")
    path = str((raw.get("correlate") or {}).get("path") or "")
    if path not in ("subject", "source") and not re.fullmatch(r"data(\.[^.]+)+", path):
        raise Problem(
            reasons.INVALID_TRIGGER, f"spec.join.correlate.path: {path!r} must be subject, source or data.<path>"
        )
    found = WITHIN.fullmatch(str(raw.get("within") or ""))
    within = datetime.timedelta(seconds=int(found[1]) * UNITS[found[2]]) if found else None
    if within is None or within > MAX_WITHIN:
        raise Problem(
            reasons.INVALID_TRIGGER, "spec.join.within: give a window such as 30s, 15m, 1h or 7d (at most 30d)"
        )
    return Join(tuple(parts), tuple(path.split(".")), within)


def correlation_of(join: Join, event: Event) -> str | None:
    """The event's joining value as text (JSON for anything but a string; a long one as its
    digest); None when the event has none, or it is null."""
    head, *rest = join.correlate
    if head == "data":
        value = _at(event.data, tuple(rest))
        if value is MISSING or value is None:
            return None
    else:
        value = event.subject if head == "subject" else event.source
        if value is None:
            return None
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))
    if len(text) > MAX_CORRELATION:
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    return text


def join_params(mapping: dict[str, str] | None, parts: dict[str, dict[str, Any]], origin_type: str) -> dict[str, Any]:
    """A joined run's params: each event's data under its filter's name (or the mapped paths of
    that), and the type of the event that completed the join as ``origin_event_type``."""
    joined = Event("", "", "", "", None, dict(parts))
    return params_for(mapping, joined, origin_type)


def join_run_name(trigger: str, package: str, correlation: str, seqs: list[int]) -> str:
    """``<trigger>-<12 hex of the joining value, the joined events and the package>``: the same
    when routing repeats after a crash."""
    joined = ",".join(str(seq) for seq in sorted(seqs))
    digest = hashlib.sha256(f"join\0{correlation}\0{joined}\0{package}".encode()).hexdigest()[:12]
    return f"{trigger[: MAX_NAME - len(digest) - 1].rstrip('-.')}-{digest}"


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
    join: Join | None = None


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
        meta["namespace"],
        meta["name"],
        meta.get("uid", ""),
        filter_of(spec),
        tuple(targets),
        bool(spec.get("suspend")),
        join_of(spec),
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
