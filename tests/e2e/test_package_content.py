"""A package's files are stored once per content, shared by its runs, in immutable ConfigMaps
named by what they hold: up to 8 MiB a package, binary files included. A tenant who plants an
object under such a name gets nothing run from it."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest

from ferris_operator.builders.package_content import pack

from .actors import least_privileged, rule
from .conftest import Ferris
from .test_forged_owners import READ_RUNS
from .test_tenant_walls import reason_of

pytestmark = pytest.mark.cluster

MiB = 1024 * 1024
SHOW = "import hashlib\nprint(hashlib.sha256(open('model.bin', 'rb').read()).hexdigest(), open('notes.txt').read())\n"


def create(ferris: Ferris, namespace: str, obj: dict[str, Any]) -> None:
    """``kubectl create``: apply would copy a large object into its last-applied annotation."""
    ferris.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(obj))


def content_objects(ferris: Ferris, namespace: str, package: str) -> list[dict[str, Any]]:
    selector = f"app.kubernetes.io/component=package-content,ferris.io/package={package}"
    listed = ferris.kubectl("get", "configmaps", "-n", namespace, "-l", selector, "-o", "json").stdout
    items: list[dict[str, Any]] = json.loads(listed)["items"]
    return items


def test_runs_share_one_copy_of_a_package_with_a_five_mib_binary_file_that_arrives_whole(
    ferris: Ferris, ns: str
) -> None:
    blob = hashlib.shake_256(b"ferris").digest(5 * MiB)  # binary, and over any one ConfigMap
    piece = 900 * 1024
    refs = []
    for k, start in enumerate(range(0, len(blob), piece)):
        data = base64.b64encode(blob[start : start + piece]).decode()
        create(
            ferris,
            ns,
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"model-{k}"}, "binaryData": {"part": data}},
        )
        refs.append({"name": f"model-{k}", "key": "part"})
    scripts = [
        {"name": "main.py", "content": SHOW},
        {"name": "model.bin", "configMapRefs": refs},
        {"name": "notes.txt", "content": "ünïcode notes"},
    ]
    ferris.apply(
        ns,
        {
            "apiVersion": "ferris.io/v1alpha1",
            "kind": "FerrisPackage",
            "metadata": {"name": "heavy"},
            "spec": {"scripts": scripts},
        },
    )
    ferris.wait_condition(ns, "ferrispackage", "heavy", "Ready")
    runs = [ferris.create_run(ns, "heavy") for _ in range(3)]
    for run in runs:
        body = ferris.wait_run(ns, run, timeout=180)
        assert body["status"]["phase"] == "Succeeded", body["status"]
        uid = body["metadata"]["uid"]
        assert ferris.steps(uid)[0][4] == f"{hashlib.sha256(blob).hexdigest()} ünïcode notes\n"
    package_uid = ferris.get(ns, "ferrispackage", "heavy")["metadata"]["uid"]
    files = [("main.py", SHOW.encode()), ("model.bin", blob), ("notes.txt", "ünïcode notes".encode())]
    expected = pack("heavy", "any salt", files)  # the names digest the operator's salt: the layout is the same
    shared = content_objects(ferris, ns, "heavy")
    assert len(shared) == len(expected.objects) == 6  # one copy for the three runs
    assert all(o["immutable"] is True and o["metadata"]["ownerReferences"][0]["uid"] == package_uid for o in shared)
    assert sorted(len(o.get("data") or {}) + len(o.get("binaryData") or {}) for o in shared) == sorted(
        len(obj.parts) for obj in expected.objects
    )
    for run in runs:  # each run's own ConfigMap holds its document and sealed bundle, no file
        bundle = ferris.get(ns, "configmap", f"{run}-bundle")
        assert set(bundle["data"]) == {"run.json"} and len(json.dumps(bundle)) < 16 * 1024


def test_content_replaced_under_its_name_is_never_used(ferris: Ferris, ns: str) -> None:
    """Content object names digest a salt only the operator knows: no one can make one first.
    A tenant who may list, delete and create ConfigMaps replaces one a run made, with its labels,
    owner and stamp copied and other code under the same key. The next run fails closed
    (ForeignObject) and no Job is made."""
    script = "print('the real script')\n"
    ferris.package(ns, "target", script)
    ferris.wait_condition(ns, "ferrispackage", "target", "Ready")
    first = ferris.wait_run(ns, ferris.create_run(ns, "target"))
    assert first["status"]["phase"] == "Succeeded", first["status"]
    rights = [READ_RUNS, rule("", "configmaps", "list", "get", "delete", "create")]
    mallory = least_privileged(ferris, ns, "mallory", rights)
    assert not mallory.can("get", "secrets") and not mallory.can("patch", "configmaps")
    listed = json.loads(mallory.kubectl("get", "configmaps", "-o", "json").stdout)["items"]
    [made] = [
        o for o in listed if o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "package-content"
    ]
    [key] = made["data"]
    mallory.kubectl("delete", "configmap", made["metadata"]["name"])
    meta = made["metadata"]
    mallory.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": meta["name"],
                "labels": meta["labels"],
                "annotations": meta["annotations"],  # the operator's stamp, copied
                "ownerReferences": meta["ownerReferences"],
            },
            "data": {key: "import os; print('mallory ran', os.listdir('/var/run/ferris/key'))\n"},
        }
    )
    run = ferris.create_run(ns, "target")
    body = ferris.wait_run(ns, run, timeout=90)
    assert (body["status"]["phase"], reason_of(body)) == ("Failed", "ForeignObject"), body["status"]
    message = next(c for c in body["status"]["conditions"] if c["type"] == "Succeeded")["message"]
    assert meta["name"] in message
    assert not ferris.exists(ns, "job", f"{run}-run") and not ferris.exists(ns, "configmap", f"{run}-bundle")


def test_the_kubernetes_adapter_marks_and_deletes_content_only_as_it_was_listed(ferris: Ferris, ns: str) -> None:
    """What the sweep's safety rests on, against a real API server: a metadata-only read, a
    label-selected metadata list, an annotation that another object of the name refuses, and a
    delete refused once the object changed since it was listed."""
    from ferris_operator.k8s.objects import Kube

    kube = Kube(ferris.api)
    labels = {"app.kubernetes.io/component": "package-content"}
    big = "x" * (512 * 1024)
    create(
        ferris,
        ns,
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c1", "labels": labels}, "data": {"k": big}},
    )
    create(ferris, ns, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "plain"}, "data": {"k": "v"}})
    meta = kube.metadata("ConfigMap", ns, "c1")
    assert meta is not None and set(meta) == {"metadata"} and len(json.dumps(meta)) < 4096  # not its 512 KiB
    assert kube.metadata("ConfigMap", ns, "nowhere") is None
    listed = kube.content_metadata((ns,))
    assert [m["metadata"]["name"] for m in listed] == ["c1"] and len(json.dumps(listed)) < 4096
    uid, version = meta["metadata"]["uid"], meta["metadata"]["resourceVersion"]
    assert kube.annotate("ConfigMap", ns, "c1", "another-uid", {"ferris.io/last-used": "x"}) is False
    assert kube.annotate("ConfigMap", ns, "c1", uid, {"ferris.io/last-used": "2026-12-07T00:00:00Z"}) is True
    marked = kube.metadata("ConfigMap", ns, "c1")
    assert marked is not None and marked["metadata"]["annotations"]["ferris.io/last-used"] == "2026-12-07T00:00:00Z"
    assert kube.delete_unchanged("ConfigMap", ns, "c1", uid, version) is False  # changed since listed
    assert kube.metadata("ConfigMap", ns, "c1") is not None
    assert kube.delete_unchanged("ConfigMap", ns, "c1", uid, marked["metadata"]["resourceVersion"]) is True
    assert kube.metadata("ConfigMap", ns, "c1") is None
    assert kube.annotate("ConfigMap", ns, "c1", uid, {"ferris.io/last-used": "x"}) is False  # gone
    assert kube.delete_unchanged("ConfigMap", ns, "c1", uid, version) is False
