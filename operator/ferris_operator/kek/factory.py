"""The key providers the settings name: the current one, and the mounted key ring beside it
(readable, for a migration away from it, and for run tokens issued before the upgrade)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ferris_operator.crypto.keyring import KeyRing, load_keyring
from ferris_operator.kek.base import KeyProvider
from ferris_operator.kek.kmsv2 import KmsV2Provider
from ferris_operator.kek.providers import KeyProviders
from ferris_operator.kek.secret_ring import SecretRingProvider
from ferris_operator.kek.transit import TransitProvider
from ferris_operator.settings import KeyProviderSettings


@dataclass(frozen=True)
class KeySetup:
    providers: KeyProviders
    ring: KeyRing | None  # the Secret-mounted ring, when FERRIS_MASTER_KEY_DIR is set


def key_setup(keys: KeyProviderSettings, master_key_dir: Path | None) -> KeySetup:
    """KeyRingError when a configured ring does not load."""
    ring = load_keyring(master_key_dir) if master_key_dir else None
    current: KeyProvider
    if keys.kind == "kms-v2":
        assert keys.kms_socket is not None  # checked by the settings
        current = KmsV2Provider(keys.kms_socket, keys.timeout)
    elif keys.kind == "transit":
        current = TransitProvider(
            keys.transit_address,
            keys.transit_key,
            mount=keys.transit_mount,
            token_file=keys.transit_token_file,
            role=keys.transit_role,
            auth_mount=keys.transit_auth_mount,
            ca_file=keys.transit_ca_file,
            timeout=keys.timeout,
        )
    else:
        assert ring is not None  # checked by the settings
        current = SecretRingProvider(ring)
    readers = [SecretRingProvider(ring)] if ring is not None and keys.kind != "secret-ring" else []
    return KeySetup(KeyProviders(current, readers, keys.cache_seconds), ring)
