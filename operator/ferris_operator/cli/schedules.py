"""`ferris schedules`: the packages of a namespace that run on a schedule, with their next and
last scheduled runs and how many times were missed; `--next N` lists the coming times."""

from __future__ import annotations

import argparse
import datetime
import itertools
from collections.abc import Sequence
from typing import Any

from ferris_operator import model
from ferris_operator.bodies import PackageBody, PackageSpec, package_body
from ferris_operator.cli.kubeconfig import add_arguments, context_of
from ferris_operator.cli.server import columns
from ferris_operator.problems import Problem
from ferris_operator.schedules.due import merged
from ferris_operator.schedules.spec import schedule_of


def register(commands: Any) -> None:
    schedules = commands.add_parser("schedules", help="packages that run on a schedule, and when they run next")
    add_arguments(schedules)
    schedules.add_argument("--next", type=int, default=0, metavar="N", help="also list each package's next N times")
    schedules.set_defaults(handler=cmd_schedules)


def table(packages: Sequence[PackageBody], upcoming: int, now: datetime.datetime) -> list[str]:
    """Lines to print. Pure: the packages and the clock are given."""
    rows = [("PACKAGE", "CRONS", "TIME ZONE", "SUSPENDED", "NEXT", "LAST RUN", "MISSED")]
    coming: list[str] = []
    for package in sorted(packages, key=lambda p: str(p["metadata"]["name"])):
        spec, name = package.get("spec") or {}, package["metadata"]["name"]
        if not spec.get("schedule"):
            continue
        raw, shown = spec["schedule"], (package.get("status") or {}).get("schedule") or {}
        rows.append(
            (
                name,
                " | ".join(raw.get("crons") or []),
                raw.get("timeZone") or "UTC",
                "yes" if raw.get("suspend") else "no",
                shown.get("nextScheduleTime") or "-",
                shown.get("lastScheduledRun") or "-",
                str(shown.get("missedCount") or 0),
            )
        )
        if upcoming:
            coming += _coming(name, spec, upcoming, now)
    return columns(rows) + (["", *coming] if coming else [])


def _coming(name: str, spec: PackageSpec, count: int, now: datetime.datetime) -> list[str]:
    try:
        schedule = schedule_of(spec)
    except Problem as problem:
        return [f"{name}: {problem.message}"]
    assert schedule is not None
    zone = schedule.schedule.zone
    times = itertools.islice(merged(schedule.schedule, now), count)
    return [f"{name}: {t.astimezone(zone).isoformat()}  ({model.timestamp(t)})" for t in times]


def cmd_schedules(args: argparse.Namespace) -> int:
    from kubernetes import client

    api = client.CustomObjectsApi(context_of(args).api_client())
    listed: Any = api.list_namespaced_custom_object(model.GROUP, model.VERSION, args.namespace, model.PACKAGES)
    lines = table([package_body(item) for item in listed.get("items") or []], args.next, model.utcnow())
    if len(lines) == 1:
        print(f"no package in namespace {args.namespace} has a schedule")
        return 0
    print("\n".join(lines))
    return 0
