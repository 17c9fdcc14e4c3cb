"""Event source reconcile with fakes: the key is taken only from a Secret of type
ferris.io/event-source-key, at least 16 bytes, stored in the vault under the event source's uid
and the Secret then deleted (unless keepSource); each problem names the field and the fix."""

from __future__ import annotations

import base64
from typing import Any

from ferris_operator import reasons
from ferris_operator.triggers.sources import KEY_SECRET_TYPE, VAULT_KEY, EventSourceService


class Kube:
    def __init__(self, secret: dict[str, Any] | None) -> None:
        self.secret = secret
        self.deleted: list[tuple[str, str]] = []

    def read(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.secret if kind == "Secret" and self.secret and self.secret["metadata"]["name"] == name else None

    def delete_exact(self, kind: str, namespace: str, name: str, uid: str, body: Any = None) -> None:
        self.deleted.append((name, uid))


class Vault:
    def __init__(self) -> None:
        self.stored: dict[str, tuple[str, dict[str, Any]]] = {}

    def ingest(self, namespace: str, name: str, uid: str, secrets: dict[str, Any]) -> int:
        self.stored[uid] = (name, secrets)
        return 1


def secret(value: bytes, kind: str = KEY_SECRET_TYPE) -> dict[str, Any]:
    meta = {"name": "hook-key", "uid": "secret-uid", "resourceVersion": "7"}
    return {"metadata": meta, "type": kind, "data": {"key": base64.b64encode(value).decode()}}


def source(**ref: Any) -> dict[str, Any]:
    meta = {"namespace": "team", "name": "hook", "uid": "source-uid", "generation": 1}
    return {"metadata": meta, "spec": {"secretRef": {"name": "hook-key", **ref}}}


def test_the_key_is_stored_under_the_event_sources_uid_and_its_secret_deleted() -> None:
    kube, vault = Kube(secret(b"k" * 32)), Vault()
    status, problem = EventSourceService(kube, vault).reconcile(source())  # type: ignore[arg-type]
    assert problem is None
    assert vault.stored["source-uid"] == ("eventsource/hook", {VAULT_KEY: base64.b64encode(b"k" * 32).decode()})
    assert kube.deleted == [("hook-key", "secret-uid")]
    assert status["path"] == "/api/v1/namespaces/team/eventsources/hook/events"
    assert status["key"]["version"] == 1 and status["conditions"][0]["reason"] == reasons.KEY_STORED
    kept = Kube(secret(b"k" * 32))
    EventSourceService(kept, Vault()).reconcile(source(keepSource=True))  # type: ignore[arg-type]
    assert kept.deleted == []


def test_a_secret_of_another_type_or_a_short_key_is_refused_and_nothing_stored() -> None:
    for found, reason in (
        (secret(b"k" * 32, "Opaque"), reasons.KEY_SECRET_NOT_MARKED),
        (secret(b"short"), reasons.INVALID_KEY),
        (None, reasons.KEY_SECRET_NOT_FOUND),
    ):
        kube, vault = Kube(found), Vault()
        status, problem = EventSourceService(kube, vault).reconcile(source())  # type: ignore[arg-type]
        assert problem is not None and problem.reason == reason and "spec.secretRef" in problem.message
        assert status["conditions"][0]["status"] == "False" and vault.stored == {} and kube.deleted == []
