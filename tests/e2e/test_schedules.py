"""Schedules on the local cluster: once per minute with no duplicate while the operator is
SIGKILLed across a minute boundary, suspend then resume, and schedules that cannot be used
refused at admission or reported with the field named."""

from __future__ import annotations

import datetime
import itertools
import json
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from .actors import Actor, least_privileged, rule
from .conftest import Ferris

pytestmark = pytest.mark.cluster


@pytest.fixture(autouse=True)
def schedules_end_with_their_test(ferris: Ferris, ns: str) -> Iterator[None]:
    """A minutely schedule left behind would start a run a minute on this stack for every test after."""
    yield
    ferris.kubectl("delete", "ferrispackages", "--all", "-n", ns, "--wait=false", check=False)


def scheduled_runs(ferris: Ferris, ns: str, package: str) -> list[dict[str, Any]]:
    return ferris.runs(ns, f"ferris.io/package={package},ferris.io/trigger=Schedule")


def wait_runs(ferris: Ferris, ns: str, package: str, count: int, timeout: float = 150) -> list[dict[str, Any]]:
    return ferris.wait_runs(ns, f"ferris.io/package={package},ferris.io/trigger=Schedule", count, timeout)


def seconds_into_minute() -> float:
    now = datetime.datetime.now(datetime.UTC)
    return now.second + now.microsecond / 1e6


@pytest.mark.long
def test_every_minute_once_while_the_operator_is_killed_across_a_minute_boundary(ferris: Ferris, ns: str) -> None:
    # CatchUp: the minute the operator was down for runs however long its restart takes. With the
    # default (RunLatest) a restart slower than a minute on a loaded machine rightly runs only the
    # latest minute and reports the one before as missed (tests/unit/ferris_operator/schedules/test_due.py).
    schedule = {"crons": ["* * * * *"], "missed": "CatchUp", "maxCatchUp": 5}
    ferris.package(ns, "minutely", "print('tick')", schedule=schedule, successfulRunsHistoryLimit=50)
    ferris.wait_condition(ns, "ferrispackage", "minutely", "Ready")
    first = wait_runs(ferris, ns, "minutely", 1, timeout=90)
    # Kill the operator a few seconds before the next minute; bring it back after it.
    while not 52 <= seconds_into_minute() < 56:
        time.sleep(0.5)
    ferris.stack.kill_operator()
    try:
        while seconds_into_minute() >= 50:
            time.sleep(0.5)
        time.sleep(3)
    finally:
        ferris.stack.start_operator()
    runs = wait_runs(ferris, ns, "minutely", len(first) + 1)  # the minute the operator was down for
    times = [run["spec"]["scheduledTime"] for run in runs]
    assert len(set(times)) == len(times), f"a scheduled time ran twice: {Counter(times)}"
    for run in runs:
        stamp = datetime.datetime.strptime(run["spec"]["scheduledTime"], "%Y-%m-%dT%H:%M:%SZ")
        assert run["metadata"]["name"] == f"minutely-{stamp:%Y%m%d%H%M}" and stamp.second == 0
    minutes = sorted(datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ") for t in times)
    assert all(b - a == datetime.timedelta(minutes=1) for a, b in itertools.pairwise(minutes)), minutes
    for run in runs:
        assert ferris.wait_run(ns, run["metadata"]["name"])["status"]["phase"] == "Succeeded"
    jobs = json.loads(ferris.kubectl("get", "jobs", "-n", ns, "-o", "json").stdout)["items"]
    per_run = Counter(j["metadata"]["labels"]["ferris.io/run"] for j in jobs)  # later minutes may have come
    assert all(per_run[run["metadata"]["name"]] == 1 for run in runs) and max(per_run.values()) == 1, per_run
    status = ferris.get(ns, "ferrispackage", "minutely")["status"]["schedule"]
    assert status["lastScheduledRun"] in {run["metadata"]["name"] for run in runs}
    assert status["nextScheduleTime"] > status["lastScheduleTime"]
    printed = ferris.kubectl("get", "fpkg", "minutely", "-n", ns).stdout
    assert "NEXT RUN" in printed and status["nextScheduleTime"] in printed
    listed = ferris.kubectl("get", "frun", "-n", ns).stdout
    assert "TRIGGER" in listed and "Schedule" in listed
    shown = ferris.ferris("schedules", "-n", ns, "--next", "2")
    assert shown.returncode == 0, shown.stderr
    row = next(line for line in shown.stdout.splitlines() if line.startswith("minutely "))
    assert row.split()[1:7] == ["*", "*", "*", "*", "*", "UTC"] and " minutely-20" in row  # its last run
    assert len([line for line in shown.stdout.splitlines() if line.startswith("minutely: ")]) == 2


@pytest.mark.long
def test_suspend_skips_the_times_it_covers_and_resume_runs_the_next(ferris: Ferris, ns: str) -> None:
    ferris.package(ns, "paused", "print('tick')", schedule={"crons": ["* * * * *"], "suspend": True})
    ferris.wait_condition(ns, "ferrispackage", "paused", "Ready")
    ferris.wait_events(ns, "paused", "ScheduleMissed", timeout=90)  # while suspended
    assert scheduled_runs(ferris, ns, "paused") == []
    missed = ferris.get(ns, "ferrispackage", "paused")["status"]["schedule"]
    assert missed["missedCount"] >= 1
    ferris.kubectl("patch", "fpkg", "paused", "-n", ns, "--type=merge", "-p", '{"spec":{"schedule":{"suspend":false}}}')
    [run] = wait_runs(ferris, ns, "paused", 1, timeout=90)
    assert run["spec"]["scheduledTime"] > missed["decidedUntil"]  # nothing of the suspended time ran


@pytest.mark.long
def test_an_editor_skips_the_next_time_with_a_token_and_the_time_after_runs(ferris: Ferris, ns: str) -> None:
    """`ferris schedules skip --next` as a ServiceAccount with a token kubeconfig and only `get`
    and `patch` on packages; a viewer is refused in one line, and nothing changes."""
    editor = least_privileged(ferris, ns, "skipper", [rule("ferris.io", "ferrispackages", "get", "patch")])
    viewer = least_privileged(ferris, ns, "onlooker", [rule("ferris.io", "ferrispackages", "get")])
    ferris.package(ns, "skippy", "print('tick')", schedule={"crons": ["* * * * *"]})
    ferris.wait_condition(ns, "ferrispackage", "skippy", "Ready")
    while seconds_into_minute() > 40:  # the skip lands well before the time it names
        time.sleep(0.5)

    def skip(actor: Actor) -> subprocess.CompletedProcess[str]:
        return ferris.ferris("schedules", "skip", "skippy", "--next", "-n", ns, "--kubeconfig", str(actor.kubeconfig))

    refused = skip(viewer)
    assert refused.returncode == 1 and "403 Forbidden" in refused.stderr and "Traceback" not in refused.stderr
    assert "skip" not in ferris.get(ns, "ferrispackage", "skippy")["spec"]["schedule"]
    done = skip(editor)
    assert done.returncode == 0, done.stderr
    skipped = done.stdout.strip().rsplit(" ", 1)[-1]
    assert ferris.get(ns, "ferrispackage", "skippy")["spec"]["schedule"]["skip"] == [skipped]
    [event] = ferris.wait_events(ns, "skippy", "ScheduleSkipped", timeout=120)
    assert event["message"] == f"no run for {skipped}: it is in spec.schedule.skip"
    after = (datetime.datetime.strptime(skipped, "%Y-%m-%dT%H:%M:%SZ") + datetime.timedelta(minutes=1)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    deadline = time.monotonic() + 120
    while after not in {r["spec"]["scheduledTime"] for r in scheduled_runs(ferris, ns, "skippy")}:
        assert time.monotonic() < deadline, f"no run for {after}, the minute after the skipped one"
        time.sleep(1)
    assert skipped not in {r["spec"]["scheduledTime"] for r in scheduled_runs(ferris, ns, "skippy")}
    assert ferris.get(ns, "ferrispackage", "skippy")["status"]["schedule"]["missedCount"] == 0


def stamp_of(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)


@pytest.mark.long
def test_jittered_packages_start_at_offsets_of_their_own_before_and_after_a_restart(ferris: Ferris, ns: str) -> None:
    """100 packages on one cron with jitterSeconds 30 get offsets over at least 20 distinct
    seconds (their cron comes once a year: only the offsets are compared); three on every
    minute start each run at their offset, under the scheduled time's name, and again so after
    the operator is SIGKILLed and started again."""
    script = [{"name": "main.py", "content": "print('tick')"}]

    def scheduled(name: str, cron: str) -> dict[str, Any]:
        schedule = {"crons": [cron], "jitterSeconds": 30}
        spec = {"scripts": script, "schedule": schedule, "successfulRunsHistoryLimit": 10}
        return {"apiVersion": "ferris.io/v1alpha1", "kind": "FerrisPackage", "metadata": {"name": name}, "spec": spec}

    spread = [f"spread-{i:03d}" for i in range(100)]
    busy = ["jit-a", "jit-b", "jit-c"]
    ferris.apply(ns, *[scheduled(n, "0 0 1 1 *") for n in spread], *[scheduled(n, "* * * * *") for n in busy])

    def offsets() -> dict[str, int]:
        packages = ferris.read(ns, "ferrispackage")["items"]
        shown = {p["metadata"]["name"]: (p.get("status") or {}).get("schedule") or {} for p in packages}
        return {name: int(s.get("offsetSeconds") or 0) for name, s in shown.items() if s.get("nextScheduleTime")}

    deadline = time.monotonic() + 120
    while len(found := offsets()) < len(spread) + len(busy):
        assert time.monotonic() < deadline, f"{len(found)} of {len(spread) + len(busy)} packages scheduled"
        time.sleep(1)
    assert all(0 <= found[n] <= 30 for n in found)
    assert len({found[n] for n in spread}) >= 20, sorted(found[n] for n in spread)

    def started_at_offset(counts: dict[str, int]) -> None:
        for name in busy:
            for run in wait_runs(ferris, ns, name, counts[name], timeout=150):
                late = stamp_of(run["metadata"]["creationTimestamp"]) - stamp_of(run["spec"]["scheduledTime"])
                assert run["metadata"]["name"] == f"{name}-{stamp_of(run['spec']['scheduledTime']):%Y%m%d%H%M}"
                assert found[name] <= late.total_seconds() <= found[name] + 15, (name, found[name], late)

    started_at_offset(dict.fromkeys(busy, 1))
    ferris.stack.kill_operator()
    ferris.stack.start_operator()
    started_at_offset({n: len(scheduled_runs(ferris, ns, n)) + 1 for n in busy})
    assert offsets() == found


def test_an_editor_backfills_ten_hours_once_with_a_token(ferris: Ferris, ns: str) -> None:
    """`ferris schedules backfill` as a ServiceAccount that may only read packages and runs and
    create runs: ten hourly times make ten runs named by their times; again makes none."""
    editor = least_privileged(
        ferris,
        ns,
        "backfiller",
        [rule("ferris.io", "ferrispackages", "get"), rule("ferris.io", "ferrisruns", "get", "create")],
    )
    ferris.package(ns, "hourly", "print('filled')", schedule={"crons": ["0 * * * *"], "params": {"k": "v"}})
    ferris.wait_condition(ns, "ferrispackage", "hourly", "Ready")
    deadline = time.monotonic() + 60
    while not (ferris.get(ns, "ferrispackage", "hourly").get("status") or {}).get("schedule"):
        assert time.monotonic() < deadline, "the operator did not take up the schedule"
        time.sleep(0.5)
    until = stamp_of(ferris.get(ns, "ferrispackage", "hourly")["status"]["schedule"]["decidedUntil"])
    start = until - datetime.timedelta(hours=10) + datetime.timedelta(seconds=1)
    command = ["schedules", "backfill", "hourly", "-n", ns, "--kubeconfig", str(editor.kubeconfig)]
    window = ["--from", f"{start:%Y-%m-%dT%H:%M:%SZ}", "--to", f"{until:%Y-%m-%dT%H:%M:%SZ}"]
    done = ferris.ferris(*command, *window)
    assert done.returncode == 0 and "10 runs made, 0 existed already" in done.stdout, done.stdout + done.stderr
    runs = ferris.runs(ns, "ferris.io/package=hourly")
    hours = sorted(stamp_of(r["spec"]["scheduledTime"]) for r in runs)
    assert len(hours) == 10 and all(t.minute == 0 and start <= t <= until for t in hours)
    assert all(r["metadata"]["name"] == f"hourly-{stamp_of(r['spec']['scheduledTime']):%Y%m%d%H%M}" for r in runs)
    assert all(r["spec"]["trigger"] == "Manual" and r["spec"]["params"] == {"k": "v"} for r in runs)
    again = ferris.ferris(*command, *window)
    assert again.returncode == 0 and "0 runs made, 10 existed already" in again.stdout, again.stdout + again.stderr
    assert len(ferris.runs(ns, "ferris.io/package=hourly")) == 10
    for run in runs:
        assert ferris.wait_run(ns, run["metadata"]["name"])["status"]["phase"] == "Succeeded"
    later = ferris.ferris(
        *command, "--from", window[1], "--to", f"{until + datetime.timedelta(hours=2):%Y-%m-%dT%H:%M:%SZ}"
    )
    assert later.returncode == 1 and "later times are the schedule's own to run" in later.stderr


def test_a_schedule_that_cannot_be_used_is_refused_or_reported_with_its_field(ferris: Ferris, ns: str) -> None:
    refused = ferris.apply(
        ns,
        {
            "apiVersion": "ferris.io/v1alpha1",
            "kind": "FerrisPackage",
            "metadata": {"name": "three-fields"},
            "spec": {"scripts": [{"name": "a.py", "content": "1"}], "schedule": {"crons": ["* * *"]}},
        },
        check=False,
    )
    assert refused.returncode != 0 and "spec.schedule.crons[0]" in refused.stderr
    vague = ferris.apply(
        ns,
        {
            "apiVersion": "ferris.io/v1alpha1",
            "kind": "FerrisPackage",
            "metadata": {"name": "vague-skip"},
            "spec": {
                "scripts": [{"name": "a.py", "content": "1"}],
                "schedule": {"crons": ["@daily"], "skip": ["tomorrow"], "jitterSeconds": 7200},
            },
        },
        check=False,
    )
    assert vague.returncode != 0 and "spec.schedule.skip[0]" in vague.stderr, vague.stderr
    assert "spec.schedule.jitterSeconds" in vague.stderr
    ferris.package(ns, "bad-minute", "print(1)", schedule={"crons": ["0 * * * *", "61 * * * *"]})
    condition = ferris.wait_condition(ns, "ferrispackage", "bad-minute", "InvalidSchedule")
    assert condition["message"].startswith("spec.schedule.crons[1]: '61 * * * *': the minute field '61' is not valid")
    ferris.package(ns, "bad-zone", "print(1)", schedule={"crons": ["@daily"], "timeZone": "Mars/Olympus"})
    condition = ferris.wait_condition(ns, "ferrispackage", "bad-zone", "InvalidSchedule")
    assert "spec.schedule.timeZone: 'Mars/Olympus' is not an IANA time zone" in condition["message"]


RETRYING = """import json, sys
from ferris_ef import context
args = json.loads(sys.argv[1])
if args.get("attempt") is None:
    print("asked for", context.scheduler.retry(minutes=1, parameters={"attempt": 2}))
else:
    print("attempt", args["attempt"])
"""


@pytest.mark.long
def test_a_retry_asked_for_by_a_script_runs_once_after_its_delay_across_an_operator_restart(
    ferris: Ferris, ns: str
) -> None:
    ferris.package(ns, "retrying", RETRYING)
    ferris.wait_condition(ns, "ferrispackage", "retrying", "Ready")
    first = ferris.create_run(ns, "retrying")
    run = ferris.wait_run(ns, first)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    output = run["status"]["steps"][0]["outputTail"]
    assert output.startswith("asked for retrying-retry-")
    retry_name = output.split()[-1]
    waiting = ferris.wait_condition(ns, "ferrisrun", retry_name, "WaitingToStart")
    retry = ferris.get(ns, "ferrisrun", retry_name)
    assert retry["spec"]["trigger"] == "Retry" and retry["spec"]["params"] == {"attempt": 2}
    assert waiting["message"] == f"starts at {retry['spec']['startAfter']} (spec.startAfter)"
    assert retry["metadata"]["annotations"]["ferris.io/retry-of"] == run["metadata"]["uid"]
    ferris.stack.stop_operator()  # the wait is in the spec: it outlives the operator
    try:
        time.sleep(5)
    finally:
        ferris.stack.start_operator()
    done = ferris.wait_run(ns, retry_name, timeout=150)
    assert done["status"]["phase"] == "Succeeded" and done["status"]["steps"][0]["outputTail"] == "attempt 2\n"
    started = datetime.datetime.strptime(done["status"]["startTime"], "%Y-%m-%dT%H:%M:%SZ")
    assert started >= datetime.datetime.strptime(retry["spec"]["startAfter"], "%Y-%m-%dT%H:%M:%SZ")
    retries = ferris.kubectl("get", "frun", "-n", ns, "-l", "ferris.io/trigger=Retry", "-o", "name").stdout.split()
    assert retries == [f"ferrisrun.ferris.io/{retry_name}"]
    history = ferris.ferris("runs", "-n", ns, "--trigger", "Retry")
    assert history.returncode == 0 and retry_name in history.stdout and first not in history.stdout
