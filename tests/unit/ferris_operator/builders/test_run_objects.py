"""The pure builders of a run's children."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from ferris_operator import model
from ferris_operator.builders import package_content, run_objects
from ferris_operator.builders.run_objects import RunRef
from ferris_operator.problems import Problem
from ferris_operator.queues.lanes import Placement

RUN = RunRef("team", "nightly-abc12", "uid-run-1")
MOUNTS = package_content.pack("nightly", "uid-pkg-1", [("a.py", b"1"), ("lib.txt", b"x"), ("b.sh", b"2")]).names


PACKAGE: dict[str, Any] = {
    "metadata": {"name": "nightly", "uid": "uid-pkg-1", "generation": 3},
    "spec": {
        "scripts": [
            {"name": "a.py", "content": "1"},
            {"name": "lib.txt", "content": "x"},
            {"name": "b.sh", "content": "2"},
        ],
        "params": {"x": 1},
        "config": {"mode": "fast"},
        "runner": {
            "env": [{"name": "TZ", "value": "UTC"}],
            "serviceAccountName": "runner-sa",
            "nodeSelector": {"pool": "batch"},
        },
    },
}


def test_a_run_key_secret_without_a_valid_key_fails_closed() -> None:
    meta = {"name": "r-key", "namespace": "a"}
    for data in ({}, {"token": "dG9r"}, {"run.key": "c2hvcnQ=", "token": "dG9r"}, {"run.key": "!!", "token": "x"}):
        with pytest.raises(Problem) as caught:
            run_objects.read_key_secret({"metadata": meta, "data": data})
        assert caught.value.reason == "RunKeyInvalid" and "a/r-key" in caught.value.message
    key, token = run_objects.read_key_secret(
        {"metadata": meta, "data": {"run.key": base64.b64encode(b"k" * 32).decode(), "token": "dG9r"}}
    )
    assert (key, token) == (b"k" * 32, "tok")


def test_every_child_is_owned_by_the_run_and_labelled() -> None:
    children = [
        run_objects.key_secret(RUN, "nightly", b"k" * 32, "token"),
        run_objects.bundle_configmap(RUN, "nightly", b"bundle", run_objects.run_document(RUN, PACKAGE, {}, 1)),
        run_objects.job(RUN, PACKAGE, "img:1", "http://api", 60, MOUNTS),
    ]
    for child in children:
        owner = child["metadata"]["ownerReferences"][0]
        assert owner == {
            "apiVersion": "ferris.io/v1alpha1",
            "kind": "FerrisRun",
            "name": RUN.name,
            "uid": RUN.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
        assert child["metadata"]["labels"][model.LABEL_RUN_UID] == RUN.uid


def test_key_secret_holds_only_the_key_and_token() -> None:
    secret = run_objects.key_secret(RUN, "nightly", b"k" * 32, "tok")
    assert set(secret["data"]) == {"run.key", "token"}
    assert base64.b64decode(secret["data"]["token"]) == b"tok"


def test_job_is_locked_down() -> None:
    job = run_objects.job(RUN, PACKAGE, "img:1", "http://api", 60, MOUNTS)
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert job["spec"]["backoffLimit"] == 0 and job["spec"]["activeDeadlineSeconds"] == 60
    assert pod["automountServiceAccountToken"] is False and pod["enableServiceLinks"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": run_objects.RUNNER_UID,
        "capabilities": {"drop": ["ALL"]},
    }
    key_volume = next(v for v in pod["volumes"] if v["name"] == "run-key")
    assert key_volume["secret"]["defaultMode"] == 0o400
    assert {"name": "TZ", "value": "UTC"} in container["env"]
    assert all("valueFrom" not in e for e in container["env"])  # no secret reaches the environment
    assert pod["serviceAccountName"] == "runner-sa" and pod["nodeSelector"] == {"pool": "batch"}
    assert container["image"] == "img:1"


def test_package_runner_image_overrides_the_default() -> None:
    package = json.loads(json.dumps(PACKAGE))
    package["spec"]["runner"]["image"] = "custom:2"
    assert (
        run_objects.job(RUN, package, "img:1", "http://api", 60, MOUNTS)["spec"]["template"]["spec"]["containers"][0][
            "image"
        ]
        == "custom:2"
    )


def test_run_document_lists_steps_in_order_and_assets_separately() -> None:
    document = run_objects.run_document(RUN, PACKAGE, {"x": 2}, 7)
    assert document["steps"] == ["a.py", "b.sh"]
    assert document["files"] == ["a.py", "lib.txt", "b.sh"]
    assert document["params"] == {"x": 2} and document["secretsVersion"] == 7
    assert "secrets" not in document and "maskSecrets" in document


def test_entrypoint_runs_alone() -> None:
    assert model.step_names(PACKAGE["spec"]["scripts"], "b.sh") == ["b.sh"]


def test_an_execution_order_runs_those_steps_in_its_order_and_the_rest_are_files() -> None:
    spec = {**PACKAGE["spec"], "executionOrder": ["b.sh", "a.py"]}
    assert model.steps_of(spec) == ["b.sh", "a.py"]
    document = run_objects.run_document(RUN, {**PACKAGE, "spec": spec}, {}, 1)
    assert document["steps"] == ["b.sh", "a.py"] and document["files"] == ["a.py", "lib.txt", "b.sh"]
    assert model.steps_of({**spec, "executionOrder": ["a.py"]}) == ["a.py"]  # b.sh: a file beside it


def test_a_packages_sql_settings_travel_in_the_run_document() -> None:
    spec = {**PACKAGE["spec"], "executionOrder": ["a.py"], "sql": {"connectionSecret": "warehouse"}}
    document = run_objects.run_document(RUN, {**PACKAGE, "spec": spec}, {}, 1)
    assert (document["sqlConnectionSecret"], document["sqlTransaction"], document["sqlMaxRows"]) == (
        "warehouse",
        "single",
        20,
    )
    assert "sqlConnectionSecret" not in run_objects.run_document(RUN, PACKAGE, {}, 1)


def test_the_bundle_holds_the_document_and_the_shared_content_mounts_whole_naming_no_key() -> None:
    scripts = [("run.json", b"print(1)"), ("b.sh", b"echo 2")]  # a script may be called run.json
    package = {**PACKAGE, "spec": {**PACKAGE["spec"], "scripts": [{"name": n, "content": "x"} for n, _ in scripts]}}
    document = run_objects.run_document(RUN, package, {}, 1)
    sealed = run_objects.sealed_files(document, scripts)
    assert set(sealed) == {"run.json", "script.0", "script.1"} and sealed["script.0"] == b"print(1)"
    bundle = run_objects.bundle_configmap(RUN, "nightly", b"sealed", document)
    assert set(bundle["data"]) == {"run.json"} and json.loads(bundle["data"]["run.json"]) == document
    assert base64.b64decode(bundle["binaryData"]["bundle"]) == b"sealed"
    content = package_content.pack("nightly", "uid-pkg-1", scripts)
    volumes = {
        v["name"]: v
        for v in run_objects.job(RUN, package, "img:1", "http://api", 60, content.names)["spec"]["template"]["spec"][
            "volumes"
        ]
    }
    [source] = volumes["scripts"]["projected"]["sources"]
    assert source["configMap"] == {"name": content.names[0]}  # each part under its key; run.json says which
    keyed = run_objects.run_document(RUN, package, {}, 1, content_keys=content.keys)
    assert keyed["contentKeys"] == [[package_content.sha256(b"print(1)")], [package_content.sha256(b"echo 2")]]
    assert [i["key"] for i in volumes["bundle"]["configMap"]["items"]] == ["run.json", "bundle"]


def test_a_job_for_kueue_is_made_suspended_in_its_queue_and_lane_and_otherwise_not() -> None:
    placed = Placement("team-queue", 9, "ferris-slow")
    job = run_objects.job(RUN, PACKAGE, "img:1", "http://api", 60, MOUNTS, placed)
    assert job["spec"]["suspend"] is True
    labels = job["metadata"]["labels"]
    assert labels["kueue.x-k8s.io/queue-name"] == "team-queue"
    assert labels["kueue.x-k8s.io/priority-class"] == "ferris-slow"
    assert labels[model.LABEL_RUN_UID] == RUN.uid  # Ferris's own labels stay
    plain = run_objects.job(RUN, PACKAGE, "img:1", "http://api", 60, MOUNTS)
    assert "suspend" not in plain["spec"] and not any(k.startswith("kueue.") for k in plain["metadata"]["labels"])
