"""`ferris schedules`: the packages of a namespace that run on a schedule, with their next and
last scheduled runs and how many times were missed; `--next N` lists the coming times.
`ferris schedules skip PKG --next | --at TIME` adds a scheduled time to `spec.schedule.skip`, as
the kubeconfig's user (who needs `patch ferrispackages`). `ferris schedules backfill PKG --from
--to` makes the runs of the scheduled times in a range the schedule has already decided on, as
that user (`create ferrisruns`): each named by its time, so running it again makes none."""

from __future__ import annotations

import argparse
import datetime
import itertools
import sys
from collections.abc import Sequence
from typing import Any

from ferris_operator import model, reasons
from ferris_operator.bodies import PackageBody, PackageSpec, package_body
from ferris_operator.builders.run_manifest import run_manifest
from ferris_operator.cli.kubeconfig import add_arguments, context_of
from ferris_operator.cli.server import columns
from ferris_operator.problems import Problem
from ferris_operator.schedules.due import MAX_SKIP, merged, run_name
from ferris_operator.schedules.spec import parse_time, schedule_of

MAX_BACKFILL = 1000  # runs one backfill makes at most
ONE = datetime.timedelta(seconds=1)


def register(commands: Any) -> None:
    schedules = commands.add_parser("schedules", help="packages that run on a schedule, and when they run next")
    add_arguments(schedules)
    schedules.add_argument("--next", type=int, default=0, metavar="N", help="also list each package's next N times")
    schedules.set_defaults(handler=cmd_schedules)
    verbs = schedules.add_subparsers(dest="verb", metavar="VERB")
    skip = verbs.add_parser("skip", help="make no run at one scheduled time of a package")
    add_arguments(skip)
    skip.add_argument("package")
    when = skip.add_mutually_exclusive_group(required=True)
    when.add_argument("--next", dest="skip_next", action="store_true", help="the next scheduled time not skipped yet")
    when.add_argument("--at", metavar="TIME", help="a scheduled time, RFC 3339 (2026-12-24T09:00:00Z)")
    skip.set_defaults(handler=cmd_skip)
    backfill = verbs.add_parser("backfill", help="make the runs of the scheduled times in a past range")
    add_arguments(backfill)
    backfill.add_argument("package")
    backfill.add_argument("--from", dest="start", required=True, metavar="TIME", help="RFC 3339, inclusive")
    backfill.add_argument("--to", dest="end", required=True, metavar="TIME", help="RFC 3339, inclusive")
    backfill.add_argument("--force", action="store_true", help="backfill a suspended schedule too")
    backfill.set_defaults(handler=cmd_backfill)


def backfill_times(package: PackageBody, start: str, end: str, force: bool) -> list[datetime.datetime]:
    """The scheduled times from ``start`` to ``end`` (both inclusive, skipped times left out) that
    a backfill makes runs of. Pure. Only times the schedule has decided on
    (``status.schedule.decidedUntil``): a later one is the schedule's own to run or miss."""
    spec, shown = package.get("spec") or {}, (package.get("status") or {}).get("schedule") or {}
    read = schedule_of(spec)
    if read is None:
        raise Problem(reasons.INVALID_SCHEDULE, "the package has no spec.schedule; there is nothing to backfill")
    if read.suspend and not force:
        raise Problem(reasons.INVALID_SCHEDULE, "the schedule is suspended; add --force to backfill it anyway")
    first, last = parse_time(start), parse_time(end)
    for flag, text, moment in (("--from", start, first), ("--to", end, last)):
        if moment is None:
            raise Problem(reasons.INVALID_SCHEDULE, f"{flag} {text!r}: give an RFC 3339 time with a zone")
    assert first is not None and last is not None
    decided = parse_time(str(shown.get("decidedUntil") or ""))
    if decided is None:
        raise Problem(reasons.INVALID_SCHEDULE, "the operator has not taken up this schedule yet; try again shortly")
    if last > decided:
        raise Problem(
            reasons.INVALID_SCHEDULE,
            f"--to {model.timestamp(last)} is after {model.timestamp(decided)}, the last time the schedule has"
            " decided on; later times are the schedule's own to run",
        )
    if first > last:
        raise Problem(reasons.INVALID_SCHEDULE, "--from is after --to")
    times = list(
        itertools.islice(itertools.takewhile(lambda t: t <= last, merged(read.schedule, first - ONE)), MAX_BACKFILL + 1)
    )
    if len(times) > MAX_BACKFILL:
        raise Problem(
            reasons.INVALID_SCHEDULE, f"more than {MAX_BACKFILL} scheduled times in the range; backfill it in parts"
        )
    return times


def skip_list(spec: PackageSpec, at: str | None, now: datetime.datetime) -> tuple[list[str], datetime.datetime]:
    """The package's new ``spec.schedule.skip`` with ``at`` (None: the next time not skipped yet)
    added, times already past dropped; and the time added. Pure: the clock is given. A Problem
    names what is wrong and what to do."""
    read = schedule_of(spec)
    if read is None:
        raise Problem(reasons.INVALID_SCHEDULE, "the package has no spec.schedule; there is nothing to skip")
    schedule = read.schedule
    if at is None:
        time = next(merged(schedule, now), None)
        if time is None:
            raise Problem(reasons.INVALID_SCHEDULE, "the schedule has no time left to skip")
    else:
        parsed = parse_time(at)
        if parsed is None:
            raise Problem(
                reasons.INVALID_SCHEDULE, f"--at {at!r}: give an RFC 3339 time with a zone (2026-12-24T09:00:00Z)"
            )
        time = parsed
        if time <= now:
            raise Problem(reasons.INVALID_SCHEDULE, f"--at {model.timestamp(time)} has passed; give a time to come")
        if next(merged(schedule, time - datetime.timedelta(seconds=1), skipped_too=True), None) != time:
            coming = ", ".join(model.timestamp(t) for t in itertools.islice(merged(schedule, now), 3))
            raise Problem(
                reasons.INVALID_SCHEDULE,
                f"--at {model.timestamp(time)} is not a scheduled time of the package; its next times are {coming}",
            )
    kept = sorted({t for t in schedule.skip if t > now} | {time})
    if len(kept) > MAX_SKIP:
        raise Problem(
            reasons.INVALID_SCHEDULE,
            f"the package already skips {MAX_SKIP} times to come; remove one from spec.schedule.skip first",
        )
    return [model.timestamp(t) for t in kept], time


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


def cmd_skip(args: argparse.Namespace) -> int:
    from kubernetes import client

    api = client.CustomObjectsApi(context_of(args).api_client())
    where = (model.GROUP, model.VERSION, args.namespace, model.PACKAGES, args.package)
    for _ in range(5):  # another writer between the read and the patch: read again
        found: Any = api.get_namespaced_custom_object(*where)
        package = package_body(found)
        try:
            skip, time = skip_list(package.get("spec") or {}, args.at, model.utcnow())
        except Problem as problem:
            print(f"ferris schedules skip: {args.package}: {problem.message}", file=sys.stderr)
            return 1
        version = package["metadata"].get("resourceVersion")
        patch = {"metadata": {"resourceVersion": version}, "spec": {"schedule": {"skip": skip}}}
        try:
            api.patch_namespaced_custom_object(*where, patch)
        except client.ApiException as exc:
            if exc.status == 409:
                continue
            raise
        print(f"ferrispackage.ferris.io/{args.package}: no run at {model.timestamp(time)}")
        return 0
    print(f"ferris schedules skip: {args.package} kept changing; try again", file=sys.stderr)
    return 1


def cmd_backfill(args: argparse.Namespace) -> int:
    from kubernetes import client

    api = client.CustomObjectsApi(context_of(args).api_client())
    found: Any = api.get_namespaced_custom_object(
        model.GROUP, model.VERSION, args.namespace, model.PACKAGES, args.package
    )
    package = package_body(found)
    try:
        times = backfill_times(package, args.start, args.end, args.force)
    except Problem as problem:
        print(f"ferris schedules backfill: {args.package}: {problem.message}", file=sys.stderr)
        return 1
    read = schedule_of(package.get("spec") or {})
    params = dict(read.params) if read is not None else {}
    made, existed, foreign = 0, 0, []
    for time in times:
        name = run_name(args.package, time)
        manifest = run_manifest(args.package, params, None, name=name, scheduled=time)
        manifest["metadata"]["annotations"] = {model.ANNOTATION_BACKFILL: model.timestamp(time)}
        try:
            api.create_namespaced_custom_object(model.GROUP, model.VERSION, args.namespace, model.RUNS, dict(manifest))
            made += 1
        except client.ApiException as exc:
            if exc.status != 409:
                raise
            held: Any = api.get_namespaced_custom_object(model.GROUP, model.VERSION, args.namespace, model.RUNS, name)
            spec = held.get("spec") or {}
            if (spec.get("packageRef") or {}).get("name") == args.package and spec.get(
                "scheduledTime"
            ) == model.timestamp(time):
                existed += 1
            else:
                foreign.append(name)
    print(f"{args.package}: {made} runs made, {existed} existed already ({len(times)} scheduled times)")
    for name in foreign:
        print(
            f"ferris schedules backfill: FerrisRun {name} exists and is not a run of {args.package} for its time;"
            " delete or rename it and backfill again",
            file=sys.stderr,
        )
    return 1 if foreign else 0


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
