"""A package's parameters form: a wrong form keeps the package from being Ready; params that
break it fail the run at start, for kubectl users as for the server's, naming the param."""

from __future__ import annotations

import json

import pytest

from .conftest import Ferris

pytestmark = pytest.mark.cluster

SCHEMA = {
    "required": ["region"],
    "properties": {
        "region": {"type": "string", "enum": ["eu", "us"], "widget": "radio"},
        "retries": {"type": "integer", "minimum": 0, "maximum": 3, "default": 1},
    },
}
SCRIPT = "import json, sys\np = json.loads(sys.argv[1])\nprint('region', p['region'], 'retries', p['retries'])\n"


def test_a_run_gets_the_forms_defaults_and_fails_when_its_params_break_the_form(ferris: Ferris, ns: str) -> None:
    ferris.package(ns, "formed", SCRIPT, paramsSchema=SCHEMA)
    ferris.wait_condition(ns, "ferrispackage", "formed", "Ready")
    good = ferris.create_run(ns, "formed", params={"region": "eu"})
    assert ferris.wait_run(ns, good)["status"]["phase"] == "Succeeded"
    uid = ferris.get(ns, "ferrisrun", good)["metadata"]["uid"]
    assert "region eu retries 1" in ferris.steps(uid)[0][4]  # the default filled in
    for params, message in (
        ({"region": "mars"}, "param region must be one of 'eu', 'us', got 'mars'"),
        ({"region": "us", "retries": 7}, "param retries must be at most 3, got 7"),
        ({}, "param region is required"),
    ):
        bad = ferris.create_run(ns, "formed", params=params)
        status = ferris.wait_run(ns, bad)["status"]
        ready = next(c for c in status["conditions"] if c["type"] == "Ready")
        assert status["phase"] == "Failed" and ready["reason"] == "InvalidParams", status
        assert message in ready["message"] and not ferris.exists(ns, "job", f"{bad}-run")


def test_a_wrong_form_keeps_the_package_from_being_ready(ferris: Ferris, ns: str) -> None:
    ferris.package(
        ns, "misformed", SCRIPT, paramsSchema={"properties": {"region": {"type": "string", "widget": "select"}}}
    )
    cond = ferris.wait_condition(ns, "ferrispackage", "misformed", "InvalidParamsSchema")
    assert "spec.paramsSchema.properties.region: a select needs enum" in cond["message"]
    refused = ferris.apply(
        ns,
        {
            "apiVersion": "ferris.io/v1alpha1",
            "kind": "FerrisPackage",
            "metadata": {"name": "typeless"},
            "spec": {
                "scripts": [{"name": "a.py", "content": ""}],
                "paramsSchema": {"properties": {"x": {"type": "date"}}},
            },
        },
        check=False,
    )
    assert refused.returncode != 0 and "spec.paramsSchema.properties.x.type" in refused.stderr  # at admission


def test_a_run_created_right_after_a_package_update_sees_that_update(ferris: Ferris, ns: str) -> None:
    """Updates and runs in a tight loop: each run, created the moment its update is accepted,
    starts with that generation and that value (the operator shares package reads between
    runs, never a read older than the run)."""
    ferris.package(ns, "moving", "import json, sys\nprint('value', json.loads(sys.argv[1])['value'])\n", params={})
    ferris.wait_condition(ns, "ferrispackage", "moving", "Ready")
    for value in range(8):
        patched = ferris.kubectl(
            "patch", "ferrispackage", "moving", "-n", ns, "--type=merge", "-o", "json",
            "-p", f'{{"spec": {{"params": {{"value": {value}}}}}}}',
        ).stdout  # fmt: skip
        generation = json.loads(patched)["metadata"]["generation"]
        name = ferris.create_run(ns, "moving", name=f"moving-{value}")
        run = ferris.wait_run(ns, name)
        assert run["status"]["phase"] == "Succeeded", run["status"]
        assert run["status"]["packageGeneration"] == generation, (value, run["status"])
        assert f"value {value}" in ferris.steps(run["metadata"]["uid"])[0][4]
        kopf_marks = [key for key in run["metadata"].get("annotations") or {} if key.startswith("kopf.")]
        assert kopf_marks == [], kopf_marks  # handled from its events: nothing written on the run
