"""An ownerReference proves nothing: whoever may create an object may name any run as its
controller. A tenant with the fewest rights that suffice reads a waiting run's uid, plants the
run's key Secret, bundle or Job under its name with a forged controller reference, and the run
fails closed (ForeignObject) with nothing sealed to what was planted."""

from __future__ import annotations

import base64
import datetime
import os
import time
import uuid
from typing import Any

import pytest

from ferris_ciphertext.bundle import open_bundle
from ferris_devcluster.imagebuild import runner_image

from .actors import Actor, least_privileged, rule
from .conftest import Ferris
from .test_tenant_walls import reason_of, seal

pytestmark = pytest.mark.cluster

READ_RUNS = rule("ferris.io", "ferrisruns", "get", "list", "watch")
ATTACKERS = {  # child -> (what the planter may do besides reading runs, kind, name suffix)
    "key": ([rule("", "secrets", "create"), rule("", "configmaps", "get")], "secret", "key"),
    "bundle": ([rule("", "configmaps", "create", "get")], "configmap", "bundle"),
    "job": ([rule("batch", "jobs", "create", "get")], "job", "run"),
}


def forged_owner(run: dict[str, Any]) -> list[dict[str, Any]]:
    meta = run["metadata"]
    return [
        {
            "apiVersion": "ferris.io/v1alpha1",
            "kind": "FerrisRun",
            "name": meta["name"],
            "uid": meta["uid"],
            "controller": True,
        }
    ]


def planted(child: str, name: str, run: dict[str, Any], attackers_key: bytes) -> dict[str, Any]:
    meta = {"name": name, "ownerReferences": forged_owner(run)}
    if child == "key":
        data = {"run.key": base64.b64encode(attackers_key).decode(), "token": base64.b64encode(b"frt1.x.y.z").decode()}
        return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "data": data}
    if child == "bundle":
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"note": "planted"}}
    container = {"name": "c", "image": runner_image(), "command": ["sh", "-c", "sleep 20"]}
    template = {"spec": {"restartPolicy": "Never", "containers": [container]}}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": {"backoffLimit": 0, "template": template},
    }


def opened_with(key: bytes, run_uid: str, bundle: dict[str, Any] | None) -> dict[str, Any] | None:
    """The secrets a bundle ConfigMap holds, if ``key`` opens it (on main before the stamp, the
    planted key did: every secret of the run in clear)."""
    if bundle is None:
        return None
    try:
        return open_bundle(key, run_uid, base64.b64decode(bundle["binaryData"]["bundle"])).secrets
    except Exception:
        return None


def wait_for_end_or_bundle(ferris: Ferris, reader: Actor, namespace: str, run: str) -> dict[str, Any] | None:
    """The run's bundle as ``reader`` can read it, once one exists or the run has ended."""
    deadline = time.monotonic() + 90
    while (bundle := reader.get("configmap", f"{run}-bundle")) is None:
        if (ferris.get(namespace, "ferrisrun", run).get("status") or {}).get("phase") in ("Failed", "Succeeded"):
            return None
        assert time.monotonic() < deadline, f"run {run} neither ended nor had a bundle"
        time.sleep(0.5)
    return bundle


@pytest.mark.parametrize("child", sorted(ATTACKERS))
def test_a_child_planted_with_a_forged_controller_reference_is_never_adopted(
    ferris: Ferris, ns: str, child: str
) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    ferris.package(ns, "victim", "print('ran')", sealedSecrets=seal(ferris, ns, "victim", {"PASSWORD": canary}))
    ferris.wait_condition(ns, "ferrispackage", "victim", "Ready")
    rules, kind, suffix = ATTACKERS[child]
    mallory = least_privileged(ferris, ns, "mallory", [READ_RUNS, *rules])
    assert not mallory.can("get", "secrets") and not mallory.can("delete", kind + "s")
    # The victim's run waits (spec.startAfter: one of several ways a run waits); the planter
    # sees it, and its uid, through the rights it has.
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=15)
    run_name = ferris.create_run(ns, "victim", startAfter=later.strftime("%Y-%m-%dT%H:%M:%SZ"))
    run = mallory.get("ferrisrun", run_name)
    assert run is not None and run["metadata"]["uid"]
    attackers_key = os.urandom(32)
    child_name = f"{run_name}-{suffix}"
    mallory.create(planted(child, child_name, run, attackers_key))

    if child == "key":  # the first thing to know: was anything sealed to the planter's key?
        bundle = wait_for_end_or_bundle(ferris, mallory, ns, run_name)
        assert opened_with(attackers_key, run["metadata"]["uid"], bundle) is None, "the planted key opened the bundle"
        assert bundle is None and not ferris.exists(ns, "job", f"{run_name}-run")
    body = ferris.wait_run(ns, run_name, timeout=90)
    assert (body["status"]["phase"], reason_of(body)) == ("Failed", "ForeignObject"), body["status"]
    message = next(c for c in body["status"]["conditions"] if c["type"] == "Succeeded")["message"]
    assert child_name in message and "an ownerReference proves nothing" in message
    assert ferris.wait_events(ns, run_name, "ForeignObject", kind="Warning")
    after = ferris.get(ns, kind, child_name)
    assert after["metadata"]["uid"] and after["metadata"].get("annotations", {}).get("ferris.io/stamp") is None


def test_a_run_made_first_under_an_events_run_name_is_neither_that_run_nor_started_as_an_event_run(
    ferris: Ferris, ns: str
) -> None:
    """The name of an event's run is a digest of public facts (source, id, package); a tenant who
    may create FerrisRuns makes it first, with the spec and annotations the router would write."""
    from ferris_operator.records import Event
    from ferris_operator.triggers.match import run_name

    from .test_events import PRINT_ARGS, send, trigger

    ferris.package(ns, "bill", PRINT_ARGS)
    ferris.wait_condition(ns, "ferrispackage", "bill", "Ready")
    ferris.apply(ns, trigger("orders", "bill"))
    ferris.wait_condition(ns, "ferristrigger", "orders", "Listening")
    squatter = least_privileged(ferris, ns, "squatter", [rule("ferris.io", "ferrisruns", "create", "get")])
    event_id = f"order-{uuid.uuid4().hex[:6]}"
    name = run_name("orders", "bill", Event(event_id, "com.example.order", "/shop", ns, None, {}, 0))
    squatter.create(
        {
            "apiVersion": "ferris.io/v1alpha1",
            "kind": "FerrisRun",
            "metadata": {
                "name": name,
                "labels": {"ferris.io/package": "bill", "ferris.io/trigger": "Event"},
                "annotations": {
                    "ferris.io/triggered-by": "orders",
                    "ferris.io/event": f"/shop {event_id}",
                    "ferris.io/chain-depth": "1",
                    "ferris.io/stamp": "fs1.k1." + "A" * 43,
                },
            },
            "spec": {"packageRef": {"name": "bill"}, "trigger": "Event", "params": {"amount": 1_000_000}},
        }
    )
    body = ferris.wait_run(ns, name, timeout=60)
    assert (body["status"]["phase"], reason_of(body)) == ("Failed", "TriggerNotProven"), body["status"]
    answer = send(ferris, ns, "com.example.order", {"amount": 3}, event_id)
    assert answer["runs"] == [] and [r["reason"] for r in answer["refused"]] == ["TriggeredRunNameTaken"], answer
    assert not ferris.exists(ns, "job", f"{name}-run")
