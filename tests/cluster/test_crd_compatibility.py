"""The CRD evolution policy, checked: what the previous release stored still validates against
this checkout's CRDs. Its CRDs and objects (tests/compat/previous-release: its examples and a
package using every field it had) are created on a bare control plane, this checkout's CRDs are
applied over them as an upgrade would, and each stored object, read back as the API server keeps
it, is created again under the new schema with a server-side dry run: a full validation, with no
ratcheting of unchanged fields to hide a field that changed meaning or became stricter. The
current examples validate as well."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ferris_devcluster.cluster import LocalCluster

pytestmark = pytest.mark.cluster
REPO = Path(__file__).resolve().parents[2]
PREVIOUS = REPO / "tests" / "compat" / "previous-release"
SERVER_FIELDS = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields")


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster() as started:
        yield started


def kubectl(cluster: LocalCluster, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return cluster.kubectl(*args, input=input, check=False)


def established(cluster: LocalCluster, folder: Path) -> None:
    applied = kubectl(cluster, "apply", "--server-side", "--force-conflicts", "-f", str(folder))
    assert applied.returncode == 0, applied.stderr
    names = [f"crd/{yaml.safe_load(p.read_text())['metadata']['name']}" for p in sorted(folder.glob("*.yaml"))]
    waited = kubectl(cluster, "wait", "--for=condition=Established", *names, "--timeout=60s")
    assert waited.returncode == 0, waited.stderr


COMPAT_NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "compat-folders"}}


def namespaces(cluster: LocalCluster, documents: list[dict[str, Any]]) -> None:
    """Made, or there already (the module's tests share the cluster, in either order)."""
    applied = kubectl(cluster, "apply", "-f", "-", input=yaml.safe_dump_all(documents))
    assert applied.returncode == 0, applied.stderr


def moved(obj: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The object as a create of another of its kind elsewhere would send it: no status, no
    server-set metadata, in the namespace ``<prefix>-<its namespace>`` (made here), or, cluster
    scoped, under a name of its own (a dry run still finds a name taken; some names are fixed,
    such as a project's secrets')."""
    meta = {k: v for k, v in obj["metadata"].items() if k not in SERVER_FIELDS}
    if meta.get("namespace"):
        meta["namespace"] = f"{prefix}-{meta['namespace']}"[:63]
    else:
        meta["name"] = f"{meta['name'][:50]}-{prefix}"
    return {**{k: v for k, v in obj.items() if k != "status"}, "metadata": meta}


def dry_run_elsewhere(cluster: LocalCluster, obj: dict[str, Any], prefix: str) -> str | None:
    """What the API server says to creating the object again elsewhere, if it refuses."""
    again = moved(obj, prefix)
    if again["metadata"].get("namespace"):
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": again["metadata"]["namespace"]}}
        namespaces(cluster, [namespace])
    checked = kubectl(cluster, "create", "--dry-run=server", "-f", "-", input=json.dumps(again))
    return None if checked.returncode == 0 else checked.stderr.strip()


def test_what_the_previous_release_stored_validates_against_this_checkouts_crds(cluster: LocalCluster) -> None:
    established(cluster, PREVIOUS / "crds")
    documents = [d for d in yaml.safe_load_all((PREVIOUS / "objects.yaml").read_text()) if d]
    namespaces(cluster, [d for d in documents if d["kind"] == "Namespace"])
    stored = [d for d in documents if d["kind"] != "Namespace"]
    created = kubectl(cluster, "create", "-f", "-", input=yaml.safe_dump_all(stored))
    assert created.returncode == 0, created.stderr
    established(cluster, REPO / "crds")  # the upgrade
    refused = []
    for document in stored:
        meta = document["metadata"]
        where = ["-n", meta["namespace"]] if meta.get("namespace") else []
        read = kubectl(cluster, "get", document["kind"].lower(), meta["name"], *where, "-o", "json")
        assert read.returncode == 0, read.stderr
        said = dry_run_elsewhere(cluster, json.loads(read.stdout), "again")
        if said is not None:
            refused.append(f"{document['kind']} {meta['name']}: {said}")
    assert not refused, "stored objects of the previous release the new CRDs refuse:\n" + "\n".join(refused)
    assert len(stored) >= 15 and {d["kind"] for d in stored} >= {
        "FerrisPackage",
        "FerrisRun",
        "FerrisTrigger",
        "FerrisEventSource",
        "FerrisProjectSecrets",
        "FerrisPlatformSecrets",
    }


def test_every_current_example_validates_against_this_checkouts_crds(cluster: LocalCluster) -> None:
    established(cluster, REPO / "crds")
    refused = []
    for example in sorted(p for p in (REPO / "examples").iterdir() if (p / "kustomization.yaml").exists()):
        built = kubectl(cluster, "kustomize", str(example))
        assert built.returncode == 0, built.stderr
        for document in (d for d in yaml.safe_load_all(built.stdout) if d and d["kind"] != "Namespace"):
            document["metadata"].setdefault("namespace", "folders")
            said = dry_run_elsewhere(cluster, document, "current")
            if said is not None:
                refused.append(f"{example.name}: {document['kind']} {document['metadata']['name']}: {said}")
    assert not refused, "\n".join(refused)
