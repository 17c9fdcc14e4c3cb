"""A namespace's chains, as a graph: packages are nodes (a scheduled one carries its crons), and
each FerrisTrigger draws an edge into each of its targets from what feeds it: the end of a
package's runs (a filter on the run-end event with that package as subject), the end of any
run (no subject), or events from elsewhere (a node named by the type or source asked for).
Pure: read from the packages and triggers the user may list, for the console's chain graph, the
package page's "started by" and "starts", and ``ferris chains``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from ferris_operator import model
from ferris_operator.bodies import PackageBody, TriggerBody, TriggerFilter

ANY_RUN = "*"  # the end of any run of the namespace
RUN_END_TYPES = (model.RUN_ENDED_TYPE, model.RUN_ENDED_CE_TYPE)


def feeds(condition: TriggerFilter) -> tuple[str, str]:
    """What a filter listens to: ``("run", PACKAGE)`` for the end of that package's runs
    (``ANY_RUN``: of any run), else ``("events", WHAT)`` for events from elsewhere."""
    kind, prefix = condition.get("type"), condition.get("typePrefix")
    ends = (kind is None or kind in RUN_END_TYPES) and (
        prefix is None or any(t.startswith(prefix) for t in RUN_END_TYPES)
    )
    if ends and (kind or prefix or condition.get("subject")) and not condition.get("source"):
        return "run", condition.get("subject") or ANY_RUN
    what = kind or (f"{prefix}*" if prefix else None) or condition.get("source") or "any event"
    return "events", what


def describe(condition: TriggerFilter) -> str:
    """The filter in one line, for a tooltip: its attributes and data conditions."""
    attributes = (
        ("type", condition.get("type")),
        ("typePrefix", condition.get("typePrefix")),
        ("source", condition.get("source")),
        ("subject", condition.get("subject")),
    )
    parts = [f"{key}={value}" for key, value in attributes if value is not None]
    parts += [f"data.{m['path']}=={json.dumps(m['equals'])}" for m in condition.get("data") or []]
    return ", ".join(parts) or "every event"


def _on(condition: TriggerFilter) -> str | None:
    """The outcome a run-end filter waits for (``outcome.phase``), if it names one."""
    for match in condition.get("data") or []:
        if match.get("path") in ("outcome.phase", "phase") and isinstance(match.get("equals"), str):
            return str(match["equals"])
    return None


def graph(packages: Iterable[PackageBody], triggers: Iterable[TriggerBody]) -> dict[str, Any]:
    """``nodes`` (packages, with their schedule's crons and next time), ``sources`` (events from
    elsewhere that start runs) and ``edges`` (trigger, from, to, the outcome waited for, the
    filter in words, whether it is a join's part or suspended)."""
    nodes = []
    for package in sorted(packages, key=lambda p: p["metadata"]["name"]):
        schedule = (package.get("spec") or {}).get("schedule")
        shown = (package.get("status") or {}).get("schedule") or {}
        nodes.append(
            {
                "name": package["metadata"]["name"],
                "crons": list(schedule.get("crons") or []) if schedule else [],
                "suspended": bool(schedule and schedule.get("suspend")),
                "nextScheduleTime": shown.get("nextScheduleTime"),
            }
        )
    edges: list[dict[str, Any]] = []
    sources: dict[str, None] = {}
    for trigger in sorted(triggers, key=lambda t: t["metadata"]["name"]):
        spec = trigger.get("spec") or {}
        join = spec.get("join")
        conditions: Sequence[TriggerFilter] = join.get("filters") or [] if join else [spec.get("filter") or {}]
        for condition in conditions:
            kind, origin = feeds(condition)
            if kind == "events":
                sources[origin] = None
            for target in spec.get("targets") or []:
                edges.append(
                    {
                        "trigger": trigger["metadata"]["name"],
                        "from": origin,
                        "fromKind": kind,
                        "to": target["packageRef"]["name"],
                        "on": _on(condition) if kind == "run" else None,
                        "filter": describe(condition),
                        "join": join is not None,
                        "suspended": bool(spec.get("suspend")),
                    }
                )
    return {"packages": nodes, "sources": list(sources), "edges": edges}


def around(chains: dict[str, Any], package: str) -> dict[str, list[dict[str, Any]]]:
    """For one package's page: the edges that start it, and those its runs' ends feed."""
    return {
        "startedBy": [e for e in chains["edges"] if e["to"] == package],
        "starts": [e for e in chains["edges"] if e["fromKind"] == "run" and e["from"] in (package, ANY_RUN)],
    }
