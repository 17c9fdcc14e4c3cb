"""FerrisEventSource reconcile: the HMAC key read from its Secret (of type
``ferris.io/event-source-key`` only, so that no other Secret of the namespace can be taken),
stored encrypted in the vault under the event source's uid like a package's secrets (a data
key of its own, wrapped by the master key), the Secret then deleted unless ``keepSource``; the
server reads the key from there to check signatures. Status says where senders post."""

from __future__ import annotations

import base64
from typing import Any

from ferris_operator import model, reasons
from ferris_operator.bodies import EventSourceBody, SecretKeyRef
from ferris_operator.ingest.source_secrets import read_source
from ferris_operator.ports import KubePort, VaultPort
from ferris_operator.problems import Problem
from ferris_operator.triggers.signatures import MIN_KEY_BYTES

KEY_SECRET_TYPE = "ferris.io/event-source-key"  # noqa: S105 - a Secret type, set at creation
VAULT_KEY = "hmacKey"  # the name the key is stored under in the event source's vault entry


def vault_name(name: str) -> str:
    """The event source's name in the vault, apart from packages of the same name."""
    return f"eventsource/{name}"


class EventSourceService:
    def __init__(self, kube: KubePort, vault: VaultPort) -> None:
        self.kube = kube
        self.vault = vault

    def reconcile(self, body: EventSourceBody) -> tuple[dict[str, Any], Problem | None]:
        """The status to write, and the problem a person must see (None: Ready)."""
        meta, spec = body["metadata"], body.get("spec") or {}
        status = body.get("status") or {}
        generation, previous = meta.get("generation"), status.get("conditions")
        namespace, name, uid = meta["namespace"], meta["name"], meta["uid"]
        key_status = dict(status.get("key") or {})
        try:
            key_status = self._store_key(namespace, name, uid, spec.get("secretRef") or {}, key_status)
        except Problem as problem:
            ready = model.condition("Ready", False, problem.reason, problem.message, generation, previous)
            return {"observedGeneration": generation, "conditions": model.merge_conditions(previous, ready)}, problem
        message = f"signed events are taken at {model.event_source_path(namespace, name)}"
        ready = model.condition("Ready", True, reasons.KEY_STORED, message, generation, previous)
        return {
            "observedGeneration": generation,
            "path": model.event_source_path(namespace, name),
            "key": key_status,
            "conditions": model.merge_conditions(previous, ready),
        }, None

    def forget(self, uid: str) -> None:
        self.vault.forget(uid)

    def _store_key(
        self, namespace: str, name: str, uid: str, ref: SecretKeyRef, current: dict[str, Any]
    ) -> dict[str, Any]:
        secret_name, key = str(ref.get("name") or ""), str(ref.get("key") or "key")
        read = read_source(
            self.kube.read("Secret", namespace, secret_name),
            secret_name,
            KEY_SECRET_TYPE,
            current,
            Problem(
                reasons.KEY_SECRET_NOT_FOUND,
                f"spec.secretRef: Secret {secret_name} not found in namespace {namespace}; create it with"
                f" kubectl create secret generic {secret_name} --type={KEY_SECRET_TYPE} --from-literal={key}=...",
                retry=True,
            ),
            lambda found_type: Problem(
                reasons.KEY_SECRET_NOT_MARKED,
                f"spec.secretRef: Secret {secret_name} is of type {found_type}; Ferris reads only"
                f" Secrets of type {KEY_SECRET_TYPE}, so that an event source cannot take another Secret of the"
                " namespace",
            ),
        )
        if read is None:
            return current
        value = read.data.get(key, b"")
        if len(value) < MIN_KEY_BYTES:
            raise Problem(
                reasons.INVALID_KEY,
                f"spec.secretRef: Secret {secret_name} key {key!r} is missing or under {MIN_KEY_BYTES} bytes;"
                " put a random key there (openssl rand -hex 32)",
            )
        version = self.vault.ingest(namespace, vault_name(name), uid, {VAULT_KEY: base64.b64encode(value).decode()})
        if not ref.get("keepSource", False):
            self.kube.delete_exact("Secret", namespace, secret_name, read.uid)
        return {"version": version, "source": read.label, "sourceDigest": read.digest, "storedAt": model.timestamp()}
