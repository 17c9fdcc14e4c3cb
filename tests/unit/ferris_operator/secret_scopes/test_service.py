"""Project and platform secrets, with fakes for the Kubernetes API, the vault and the scope
store: taken in from a marked Secret (then deleted) or a sealed text bound to that scope,
stored under the object's uid, its policy recorded, status with names only and following what
scripts wrote; a sealed text opens only for the scope it was sealed for."""

from __future__ import annotations

import base64
from typing import Any

from ferris_operator import reasons
from ferris_operator.crypto.sealing import SealingKeyRing, new_sealing_key, seal_text
from ferris_operator.ingest.intake import SOURCE_SECRET_TYPE
from ferris_operator.records import Scope
from ferris_operator.secret_scopes.service import (
    PLATFORM_SEALED_NAMESPACE,
    PROJECT_SEALED_FOR,
    ScopeSecretsService,
    platform_sealed_for,
)
from tests.unit.ferris_operator.fakes import FakeKube
from tests.unit.world import FakeVault as WorldVault

CANARY = "prj-c4n4ry-value"
NO_KEYS = SealingKeyRing({}, None)  # type: ignore[arg-type]


class FakeVault(WorldVault):
    """The world's vault, holding a scope to how it is taken in."""

    def ingest(
        self,
        namespace: str,
        name: str,
        uid: str,
        secrets: dict[str, Any],
        keep_written: bool = False,
        source: str | None = None,
    ) -> int:
        assert keep_written, "a scope keeps what scripts wrote"
        assert source, "what was taken in is named"
        return super().ingest(namespace, name, uid, secrets, keep_written, source)


class FakeScopes:
    def __init__(self) -> None:
        self.registered: list[Scope] = []

    def register(self, scope: Scope) -> None:
        self.registered.append(scope)


def project(spec: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    meta = {"namespace": "team", "name": "project", "uid": "prj-uid", "generation": 1}
    return {"metadata": meta, "spec": spec, "status": status}


def platform(spec: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "shared", "uid": "plat-uid", "generation": 1}, "spec": spec}


def marked(document: bytes) -> dict[str, Any]:
    data = {"secrets.json": base64.b64encode(document).decode()}
    return {"metadata": {"uid": "suid", "resourceVersion": "3"}, "type": SOURCE_SECRET_TYPE, "data": data}


def service(
    kube: FakeKube, vault: FakeVault | None = None, ring: SealingKeyRing = NO_KEYS
) -> tuple[ScopeSecretsService, FakeVault, FakeScopes]:
    vault, scopes = vault or FakeVault(), FakeScopes()
    return ScopeSecretsService(kube, vault, ring, scopes, "ferris-system"), vault, scopes  # type: ignore[arg-type]


def test_project_secrets_from_a_marked_secret_are_stored_under_the_objects_uid_and_the_secret_deleted() -> None:
    kube = FakeKube({("Secret", "team", "shared"): marked(b'{"OAUTH_TOKEN": "' + CANARY.encode() + b'"}')})
    svc, vault, scopes = service(kube)
    status, problem = svc.reconcile(project({"secretsFrom": {"secretName": "shared"}, "writers": [{"package": "p"}]}))
    assert problem is None and [(uid, values) for uid, values, _ in vault.ingested] == [
        ("prj-uid", {"OAUTH_TOKEN": CANARY})
    ]
    assert status["secrets"]["names"] == ["OAUTH_TOKEN"] and status["secrets"]["version"] == 1
    assert status["conditions"][0]["reason"] == reasons.SECRETS_STORED and CANARY not in repr(status)
    assert [(kind, name) for kind, _, name, _ in kube.deleted] == [("Secret", "shared")]
    assert scopes.registered == [Scope("prj-uid", "project", "team", "project", {}, [{"package": "p"}])]


def test_an_unmarked_secret_is_refused_naming_the_project_and_nothing_is_stored() -> None:
    unmarked = {**marked(b"{}"), "type": "Opaque"}
    svc, vault, _ = service(FakeKube({("Secret", "team", "shared"): unmarked}))
    _, problem = svc.reconcile(project({"secretsFrom": {"secretName": "shared"}}))
    assert problem is not None and problem.reason == reasons.SECRET_SOURCE_NOT_MARKED
    assert "a project's secrets cannot take another Secret" in problem.message and vault.ingested == []


def test_a_sealed_text_opens_only_as_the_projects_not_as_a_packages() -> None:
    key_id, private = new_sealing_key()
    ring = SealingKeyRing({key_id: private}, key_id)
    for_project = seal_text(ring.active_public, b'{"A": "abcdef"}', "team", PROJECT_SEALED_FOR)
    for_package = seal_text(ring.active_public, b'{"A": "abcdef"}', "team", "nightly")
    svc, _, _ = service(FakeKube({}), ring=ring)
    status, problem = svc.reconcile(project({"sealedSecrets": for_project}))
    assert problem is None and status["secrets"]["names"] == ["A"]
    _, problem = svc.reconcile(project({"sealedSecrets": for_package}))
    assert problem is not None and problem.reason == reasons.SEALED_SECRETS_INVALID


def test_platform_secrets_come_from_a_secret_in_ferris_namespace_and_keep_their_readers() -> None:
    kube = FakeKube({("Secret", "ferris-system", "plat"): marked(b'{"GLOBAL": "abcdefgh"}')})
    svc, _, scopes = service(kube)
    readers = {"namespaces": ["team"]}
    status, problem = svc.reconcile(platform({"secretsFrom": {"secretName": "plat"}, "readers": readers}))
    assert problem is None and status["secrets"]["names"] == ["GLOBAL"]
    assert kube.reads == [("Secret", "ferris-system", "plat")]
    assert scopes.registered == [Scope("plat-uid", "platform", "", "shared", readers, [])]


def test_a_platform_sealed_text_opens_only_for_its_own_name() -> None:
    key_id, private = new_sealing_key()
    ring = SealingKeyRing({key_id: private}, key_id)
    sealed = seal_text(ring.active_public, b'{"A": "abcdef"}', PLATFORM_SEALED_NAMESPACE, platform_sealed_for("shared"))
    other = seal_text(ring.active_public, b'{"A": "abcdef"}', PLATFORM_SEALED_NAMESPACE, platform_sealed_for("other"))
    as_project = seal_text(ring.active_public, b'{"A": "abcdef"}', "team", PROJECT_SEALED_FOR)
    svc, _, _ = service(FakeKube({}), ring=ring)
    assert svc.reconcile(platform({"sealedSecrets": sealed}))[1] is None
    for wrong in (other, as_project):
        _, problem = svc.reconcile(platform({"sealedSecrets": wrong}))
        assert problem is not None and problem.reason == reasons.SEALED_SECRETS_INVALID


def test_status_follows_a_version_a_script_wrote_with_names_only() -> None:
    vault = FakeVault()
    vault.versions["prj-uid"] = {3: {"A": "abcdef", "TOKEN": CANARY}}  # a script wrote version 3
    svc, _, _ = service(FakeKube({}), vault)
    before = {"names": ["A"], "count": 1, "version": 2, "source": "sealedSecrets", "sourceDigest": "sha256:x"}
    status, problem = svc.reconcile(project({}, {"secrets": before}))
    assert problem is None and status["secrets"]["names"] == ["A", "TOKEN"] and status["secrets"]["version"] == 3
    assert status["secrets"]["source"] == "sealedSecrets" and CANARY not in repr(status)
