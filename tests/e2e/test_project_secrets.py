"""A namespace's project secrets on the local cluster (first step: stored, not yet read by
runs): from a marked Secret, deleted once ingested, or a sealed text for the project; status
with names only; a second object in the namespace refused at admission; the canary nowhere in
the API or the database."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest

from .conftest import Ferris

pytestmark = pytest.mark.cluster


def project(spec: dict[str, object], name: str = "project") -> dict[str, object]:
    return {
        "apiVersion": "ferris.io/v1alpha1",
        "kind": "FerrisProjectSecrets",
        "metadata": {"name": name},
        "spec": spec,
    }


def test_project_secrets_are_stored_encrypted_with_names_in_status_and_the_source_deleted(
    ferris: Ferris, ns: str
) -> None:
    canary = "prj-c4n4ry-" + uuid.uuid4().hex
    ferris.secret(ns, "shared", json.dumps({"OAUTH_TOKEN": canary, "REGION": "eu-west-1"}))
    ferris.apply(ns, project({"secretsFrom": {"secretName": "shared"}}))
    ready = ferris.wait_condition(ns, "ferrisprojectsecrets", "project", "SecretsStored")
    assert ready["message"] == "2 secrets at version 1"
    status = ferris.get(ns, "ferrisprojectsecrets", "project")["status"]["secrets"]
    assert status["names"] == ["OAUTH_TOKEN", "REGION"] and status["source"] == "secret:shared"
    assert not ferris.exists(ns, "secret", "shared")  # ingested, then deleted
    printed = ferris.kubectl("get", "fprj", "-n", ns).stdout.splitlines()
    assert printed[0].split()[:4] == ["NAME", "SECRETS", "VERSION", "READY"] and printed[1].split()[1:4] == [
        "2",
        "1",
        "True",
    ]
    refused = ferris.apply(ns, project({}, name="other"), check=False)
    assert refused.returncode != 0 and "one FerrisProjectSecrets per namespace, named project" in refused.stderr
    assert canary not in ferris.kubectl("get", "ferrisprojectsecrets,events", "-n", ns, "-o", "yaml").stdout
    with psycopg.connect(ferris.stack.postgres.url) as conn:
        rows = conn.execute(
            "SELECT count(*) FROM secrets s JOIN packages p ON p.uid = s.package_uid WHERE p.namespace = %s", (ns,)
        ).fetchone()
        plain = conn.execute("SELECT count(*) FROM secrets WHERE ciphertext::text LIKE %s", (f"%{canary}%",)).fetchone()
    assert rows == (2,) and plain == (0,)


def test_a_sealed_text_for_the_project_is_taken_and_one_for_a_package_is_not(ferris: Ferris, ns: str) -> None:
    document = json.dumps({"API_KEY": "sealed-" + uuid.uuid4().hex})
    sealed = ferris.ferris("seal", "-", "-n", ns, "--project", input=document)
    assert sealed.returncode == 0, sealed.stderr
    for_package = ferris.ferris("seal", "-", "-n", ns, "--package", "project", input=document).stdout.strip()
    ferris.apply(ns, project({"sealedSecrets": for_package}))
    condition = ferris.wait_condition(ns, "ferrisprojectsecrets", "project", "SealedSecretsInvalid")
    assert "spec.sealedSecrets" in condition["message"]
    ferris.apply(ns, project({"sealedSecrets": sealed.stdout.strip()}))
    ferris.wait_condition(ns, "ferrisprojectsecrets", "project", "SecretsStored")
    assert ferris.get(ns, "ferrisprojectsecrets", "project")["status"]["secrets"]["names"] == ["API_KEY"]
