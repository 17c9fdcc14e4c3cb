"""Schedules on the local cluster: once per minute with no duplicate while the operator is
SIGKILLed across a minute boundary, suspend then resume, and schedules that cannot be used
refused at admission or reported with the field named."""

from __future__ import annotations

import datetime
import itertools
import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

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
    ferris.package(ns, "minutely", "print('tick')", schedule={"crons": ["* * * * *"]}, successfulRunsHistoryLimit=50)
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
    assert Counter(j["metadata"]["labels"]["ferris.io/run"] for j in jobs) == {
        run["metadata"]["name"]: 1 for run in runs
    }
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
