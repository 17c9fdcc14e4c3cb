"""The sealing key pair's home in Kubernetes: private keys in a Secret, public keys in a
ConfigMap that every user may read. Created on the operator's first start."""

from __future__ import annotations

import base64
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from ferris_operator.crypto.sealing import PublicSealingKey, SealingKeyRing, new_sealing_key
from ferris_operator.k8s.errors import is_conflict, is_not_found

ACTIVE = "active"
LABELS = {"app.kubernetes.io/name": "ferris", "app.kubernetes.io/component": "sealing-key"}


def ring_from_secret_data(data: dict[str, str]) -> SealingKeyRing:
    active = base64.b64decode(data[ACTIVE]).decode()
    keys = {name: base64.b64decode(base64.b64decode(value)) for name, value in data.items() if name != ACTIVE}
    return SealingKeyRing(keys, active)


def secret_data_for(ring: SealingKeyRing) -> dict[str, bytes | str]:
    data: dict[str, bytes | str] = {
        key_id: base64.b64encode(base64.b64encode(raw)).decode() for key_id, raw in ring.private_keys.items()
    }
    data[ACTIVE] = base64.b64encode(ring.active_id.encode()).decode()
    return data


def public_configmap_data(ring: SealingKeyRing) -> dict[str, str]:
    data = {f"{key.key_id}.pub": key.to_text() for key in ring.public_keys()}
    data[ACTIVE] = ring.active_public.to_text()
    return data


def ensure_sealing_keys(
    core: client.CoreV1Api, namespace: str, secret_name: str, configmap_name: str
) -> SealingKeyRing:
    """Read the sealing key ring, creating it on first start; publish its public keys."""
    try:
        secret: Any = core.read_namespaced_secret(secret_name, namespace)
    except ApiException as exc:
        if not is_not_found(exc):
            raise
        key_id, private = new_sealing_key()
        body = client.V1Secret(
            metadata=client.V1ObjectMeta(name=secret_name, labels=LABELS),
            type="Opaque",
            data=dict(secret_data_for(SealingKeyRing({key_id: private}, key_id))),
        )
        try:
            core.create_namespaced_secret(namespace, body)
        except ApiException as race:
            if not is_conflict(race):  # another replica created it first: use theirs
                raise
        secret = core.read_namespaced_secret(secret_name, namespace)
    ring = ring_from_secret_data(secret.data or {})
    configmap = client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=configmap_name, labels=LABELS), data=public_configmap_data(ring)
    )
    try:
        core.replace_namespaced_config_map(configmap_name, namespace, configmap)
    except ApiException as exc:
        if not is_not_found(exc):
            raise
        core.create_namespaced_config_map(namespace, configmap)
    return ring


def read_public_key(core: client.CoreV1Api, namespace: str, configmap_name: str) -> PublicSealingKey:
    configmap: Any = core.read_namespaced_config_map(configmap_name, namespace)
    return PublicSealingKey.from_text((configmap.data or {})[ACTIVE])
