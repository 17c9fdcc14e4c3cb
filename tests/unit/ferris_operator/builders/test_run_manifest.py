"""The one FerrisRun builder."""

from __future__ import annotations

import datetime

from ferris_operator.builders.run_manifest import run_manifest


def test_the_run_manifest_names_its_package_and_trigger_and_carries_only_what_was_given() -> None:
    assert run_manifest("nightly", {}, None) == {
        "apiVersion": "ferris.io/v1alpha1",
        "kind": "FerrisRun",
        "metadata": {
            "generateName": "nightly-",
            "labels": {"ferris.io/package": "nightly", "ferris.io/trigger": "Manual"},
        },
        "spec": {"packageRef": {"name": "nightly"}, "trigger": "Manual"},
    }
    spec = run_manifest("x" * 60, {"day": "today"}, 30)["spec"]
    assert spec == {
        "packageRef": {"name": "x" * 60},
        "params": {"day": "today"},
        "timeoutSeconds": 30,
        "trigger": "Manual",
    }


def test_a_scheduled_run_has_the_name_of_its_time_and_says_so() -> None:
    at = datetime.datetime(2026, 11, 30, 2, 30, tzinfo=datetime.UTC)
    manifest = run_manifest("nightly", {"day": "x"}, None, "Schedule", name="nightly-202611300230", scheduled=at)
    assert manifest["metadata"] == {
        "name": "nightly-202611300230",
        "labels": {"ferris.io/package": "nightly", "ferris.io/trigger": "Schedule"},
    }
    assert manifest["spec"] == {
        "packageRef": {"name": "nightly"},
        "params": {"day": "x"},
        "trigger": "Schedule",
        "scheduledTime": "2026-11-30T02:30:00Z",
    }
