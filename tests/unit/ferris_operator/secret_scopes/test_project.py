"""A namespace's project secrets, with fakes for the Kubernetes API and the vault: taken in from
a marked Secret (then deleted) or a sealed text bound to the project, stored under the object's
uid, status with names only; a package's sealed text does not open as the project's."""

from __future__ import annotations

import base64
from typing import Any

from ferris_operator import reasons
from ferris_operator.crypto.sealing import SealingKeyRing, new_sealing_key, seal_text
from ferris_operator.intake import SOURCE_SECRET_TYPE
from ferris_operator.secret_scopes.project import SEALED_FOR, ProjectSecretsService
from tests.unit.ferris_operator.fakes import FakeKube
from tests.unit.ferris_operator.test_package_service import FakeVault

CANARY = "prj-c4n4ry-value"


def project(spec: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"namespace": "team", "name": "project", "uid": "prj-uid", "generation": 1}, "spec": spec}


def marked(document: bytes) -> dict[str, Any]:
    data = {"secrets.json": base64.b64encode(document).decode()}
    return {"metadata": {"uid": "suid", "resourceVersion": "3"}, "type": SOURCE_SECRET_TYPE, "data": data}


def test_project_secrets_from_a_marked_secret_are_stored_under_the_objects_uid_and_the_secret_deleted() -> None:
    kube = FakeKube({("Secret", "team", "shared"): marked(b'{"OAUTH_TOKEN": "' + CANARY.encode() + b'"}')})
    vault = FakeVault()
    status, problem = ProjectSecretsService(kube, vault, SealingKeyRing({}, None)).reconcile(  # type: ignore[arg-type]
        project({"secretsFrom": {"secretName": "shared"}})
    )
    assert problem is None and vault.ingested == [("prj-uid", {"OAUTH_TOKEN": CANARY})]
    assert status["secrets"]["names"] == ["OAUTH_TOKEN"] and status["secrets"]["version"] == 1
    assert status["conditions"][0]["reason"] == reasons.SECRETS_STORED and CANARY not in repr(status)
    assert kube.deleted == [("Secret", "shared")]


def test_an_unmarked_secret_is_refused_naming_the_project_and_nothing_is_stored() -> None:
    unmarked = {**marked(b"{}"), "type": "Opaque"}
    vault = FakeVault()
    _, problem = ProjectSecretsService(
        FakeKube({("Secret", "team", "shared"): unmarked}),
        vault,
        SealingKeyRing({}, None),  # type: ignore[arg-type]
    ).reconcile(project({"secretsFrom": {"secretName": "shared"}}))
    assert problem is not None and problem.reason == reasons.SECRET_SOURCE_NOT_MARKED
    assert "a project's secrets cannot take another Secret" in problem.message and vault.ingested == []


def test_a_sealed_text_opens_only_as_the_projects_not_as_a_packages() -> None:
    key_id, private = new_sealing_key()
    ring = SealingKeyRing({key_id: private}, key_id)
    for_project = seal_text(ring.active_public, b'{"A": "abcdef"}', "team", SEALED_FOR)
    for_package = seal_text(ring.active_public, b'{"A": "abcdef"}', "team", "nightly")
    service = ProjectSecretsService(FakeKube({}), FakeVault(), ring)  # type: ignore[arg-type]
    status, problem = service.reconcile(project({"sealedSecrets": for_project}))
    assert problem is None and status["secrets"]["names"] == ["A"]
    _, problem = service.reconcile(project({"sealedSecrets": for_package}))
    assert problem is not None and problem.reason == reasons.SEALED_SECRETS_INVALID
