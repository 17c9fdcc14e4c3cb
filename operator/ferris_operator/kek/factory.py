"""The key providers the settings name: the current one, and every other configured one beside
it, readable (a migration between them; the ring also for run tokens issued before the
upgrade)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ferris_operator.crypto.keyring import KeyRing, load_keyring
from ferris_operator.kek.base import KeyProvider
from ferris_operator.kek.providers import KeyProviders
from ferris_operator.kek.secret_ring import NAME as SECRET_RING
from ferris_operator.kek.secret_ring import SecretRingProvider
from ferris_operator.kek.transit import NAME as TRANSIT
from ferris_operator.kek.transit import TransitProvider
from ferris_operator.settings import KeyProviderSettings


@dataclass(frozen=True)
class KeySetup:
    providers: KeyProviders
    ring: KeyRing | None  # the Secret-mounted ring, when FERRIS_MASTER_KEY_DIR is set


def key_setup(keys: KeyProviderSettings, master_key_dir: Path | None) -> KeySetup:
    """The current provider (``keys.kind``), and every other one the settings configure as a
    reader: data keys it wrapped still open, so ``ferris keys rewrap`` can move them to the
    current one (the ring to a KMS, one KMS to another, or back). KeyRingError when a
    configured ring does not load."""
    ring = load_keyring(master_key_dir) if master_key_dir else None
    configured: dict[str, KeyProvider] = {}
    if ring is not None:
        configured[SECRET_RING] = SecretRingProvider(ring)
    if keys.kms_socket is not None:
        # grpc costs the process 9 MiB: loaded only where a KMS plugin is configured.
        from ferris_operator.kek.kmsv2 import NAME as KMS_V2
        from ferris_operator.kek.kmsv2 import KmsV2Provider

        configured[KMS_V2] = KmsV2Provider(keys.kms_socket, keys.timeout)
    if keys.transit_address and (keys.transit_token_file or keys.transit_role):
        configured[TRANSIT] = TransitProvider(
            keys.transit_address,
            keys.transit_key,
            mount=keys.transit_mount,
            token_file=keys.transit_token_file,
            role=keys.transit_role,
            auth_mount=keys.transit_auth_mount,
            **({"jwt_file": keys.transit_jwt_file} if keys.transit_jwt_file else {}),
            ca_file=keys.transit_ca_file,
            timeout=keys.timeout,
        )
    current = configured.pop(keys.kind)  # present: the settings require what the kind needs
    return KeySetup(KeyProviders(current, list(configured.values()), keys.cache_seconds), ring)
