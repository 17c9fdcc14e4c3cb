"""The README's production PostgreSQL recipe (examples/cloudnative-pg): its CloudNativePG
Cluster and Pooler are what CloudNativePG's own CRDs accept (server-side dry run on the local
API server, with the CRDs of the release the recipe names), and Ferris's values for it render a
chart whose operator and server take each URL from its own key of the database Secret."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from ferris_devcluster.gomodules import module_source

from .conftest import ClusterHandle

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "examples" / "cloudnative-pg"
CNPG = ("github.com/cloudnative-pg/cloudnative-pg", "v1.27.1")


@pytest.fixture(scope="module")
def cnpg_crds(cluster: ClusterHandle) -> None:
    bases = module_source(*CNPG) / "config" / "crd" / "bases"
    for kind in ("clusters", "poolers"):
        cluster.kubectl("apply", "--server-side", "-f", str(bases / f"postgresql.cnpg.io_{kind}.yaml"))
    for kind in ("clusters", "poolers"):
        cluster.kubectl("wait", "--for=condition=Established", f"crd/{kind}.postgresql.cnpg.io", "--timeout=60s")


def dry_run(cluster: ClusterHandle, namespace: str, objects: list[dict[str, Any]]) -> Any:
    return cluster.kubectl(
        "apply", "--dry-run=server", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(objects), check=False
    )


def test_the_cloudnative_pg_cluster_and_pooler_are_what_its_crds_accept(
    cluster: ClusterHandle, cnpg_crds: None, namespace: str
) -> None:
    objects = list(yaml.safe_load_all((RECIPE / "postgres.yaml").read_text()))
    assert [o["kind"] for o in objects] == ["Cluster", "Pooler"]
    for obj in objects:
        obj["metadata"]["namespace"] = namespace  # the recipe's ferris-system, here a namespace of the test's
    [pg, pooler] = objects
    assert pg["spec"]["instances"] == 3 and pg["spec"]["postgresql"]["synchronous"]["number"] == 1
    assert (pooler["spec"]["type"], pooler["spec"]["pgbouncer"]["poolMode"]) == ("rw", "transaction")
    accepted = dry_run(cluster, namespace, copy.deepcopy(objects))
    assert accepted.returncode == 0, accepted.stderr
    assert "created (server dry run)" in accepted.stdout
    # The dry run checks what it is given: what the CRDs refuse is refused.
    wrong = copy.deepcopy(objects)
    wrong[0]["spec"]["postgresql"]["synchronous"]["number"] = 0
    wrong[1]["spec"]["pgbouncer"]["poolMode"] = "statement-ish"
    refused = dry_run(cluster, namespace, wrong)
    assert refused.returncode != 0
    assert "The number of synchronous replicas should be greater than zero" in refused.stderr, refused.stderr
    assert "poolMode" in refused.stderr, refused.stderr


def test_ferris_values_for_it_give_each_url_its_own_key(cluster: ClusterHandle, namespace: str) -> None:
    helm = [cluster.cluster.bins["helm"], "template", "ferris", str(REPO / "charts" / "ferris"), "-n", namespace]
    done = subprocess.run([*helm, "-f", str(RECIPE / "values.yaml")], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    rendered = done.stdout
    deployments = {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]
        for d in yaml.safe_load_all(rendered)
        if d and d["kind"] == "Deployment"
    }

    def keys(container: dict[str, Any]) -> dict[str, str]:
        return {
            e["name"]: f"{e['valueFrom']['secretKeyRef']['name']}/{e['valueFrom']['secretKeyRef']['key']}"
            for e in container["env"]
            if e["name"].startswith("FERRIS_DATABASE_") and "valueFrom" in e
        }

    operator, server = keys(deployments["ferris"]), keys(deployments["ferris-server"])
    assert operator["FERRIS_DATABASE_URL"] == server["FERRIS_DATABASE_URL"] == "ferris-database/url"
    assert operator["FERRIS_DATABASE_LISTEN_URL"] == "ferris-database/listen-url"
    assert server["FERRIS_DATABASE_READ_URL"] == "ferris-database/read-url"
    objects = [d for d in yaml.safe_load_all(rendered) if d]  # each names its namespace (some kube-system)
    accepted = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump_all(objects), check=False)
    assert accepted.returncode == 0, accepted.stderr
