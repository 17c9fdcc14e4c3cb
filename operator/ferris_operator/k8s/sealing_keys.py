"""The sealing key pair's home in Kubernetes: private keys in a Secret, public keys in a
ConfigMap that every user may read. Created on the operator's first start."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from ferris_operator.crypto.sealing import PublicSealingKey, SealingKeyRing, new_sealing_key
from ferris_operator.k8s.objects import Kube

ACTIVE = "active"
LABELS = {"app.kubernetes.io/name": "ferris", "app.kubernetes.io/component": "sealing-key"}


def ring_from_secret_data(data: dict[str, str]) -> SealingKeyRing:
    active = base64.b64decode(data[ACTIVE]).decode()
    keys = {name: base64.b64decode(base64.b64decode(value)) for name, value in data.items() if name != ACTIVE}
    return SealingKeyRing(keys, active)


def secret_data_for(ring: SealingKeyRing) -> dict[str, str]:
    data: dict[str, str] = {
        key_id: base64.b64encode(base64.b64encode(raw)).decode() for key_id, raw in ring.private_keys.items()
    }
    data[ACTIVE] = base64.b64encode(ring.active_id.encode()).decode()
    return data


def public_configmap_data(ring: SealingKeyRing) -> dict[str, str]:
    data = {f"{key.key_id}.pub": key.to_text() for key in ring.public_keys()}
    data[ACTIVE] = ring.active_public.to_text()
    return data


def ensure_sealing_keys(kube: Kube, namespace: str, secret_name: str, configmap_name: str) -> SealingKeyRing:
    """Read the sealing key ring, creating it on first start; publish its public keys."""
    secret = kube.read("Secret", namespace, secret_name)
    if secret is None:
        key_id, private = new_sealing_key()
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": secret_name, "namespace": namespace, "labels": LABELS},
            "type": "Opaque",
            "data": secret_data_for(SealingKeyRing({key_id: private}, key_id)),
        }
        secret, _ = kube.create_or_get(body)  # another replica's, when it created one first
    ring = ring_from_secret_data(secret.get("data") or {})
    kube.replace_or_create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": configmap_name, "namespace": namespace, "labels": LABELS},
            "data": public_configmap_data(ring),
        }
    )
    return ring


def public_key_of(configmap: Mapping[str, Any]) -> PublicSealingKey:
    """The active public key of the sealing keys' ConfigMap, as the API server answered it."""
    return PublicSealingKey.from_text((configmap.get("data") or {})[ACTIVE])
