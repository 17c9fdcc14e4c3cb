"""Key providers against real ones: the test KMS v2 plugin (Go, the k8s.io/kms service) on a
Unix socket. Round trips, every tampering path failing closed, an unreachable plugin waiting
instead of failing, rotation inside the KMS followed by a rewrap, and the migration from the
Secret-mounted ring to the KMS after which a dump plus the ring's files open nothing."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from psycopg_pool import ConnectionPool

from ferris_devcluster.kms import KmsPlugin
from ferris_operator.crypto.keyring import KeyRing
from ferris_operator.kek.base import KeyRejected
from ferris_operator.kek.kmsv2 import KmsV2Provider
from ferris_operator.kek.providers import KeyProviders
from ferris_operator.kek.secret_ring import SecretRingProvider, ring_providers
from ferris_operator.problems import KeyProviderUnavailable, MasterKeyMismatch
from ferris_operator.store.key_rotation import kek_ids_in_use, rewrap_batch
from ferris_operator.store.vault import Vault

CANARY = "kms-canary-" + os.urandom(6).hex()


@pytest.fixture
def plugin() -> Iterator[KmsPlugin]:
    with KmsPlugin() as running:
        yield running


@pytest.fixture
def kms(plugin: KmsPlugin) -> Iterator[KmsV2Provider]:
    provider = KmsV2Provider(plugin.socket, timeout=2.0)
    yield provider
    provider.close()


def uncached(provider: KmsV2Provider, *readers: SecretRingProvider) -> KeyProviders:
    return KeyProviders(provider, readers, cache_seconds=0)


def test_a_data_key_round_trips_through_the_plugin_with_its_key_id_and_annotations(
    pool: ConnectionPool, kms: KmsV2Provider
) -> None:
    status = kms.status()
    assert status.healthy and status.key_id == "kms-key-1"
    vault = Vault(pool, uncached(kms))
    vault.ingest("ns", "pkg", "uid-1", {"TOKEN": CANARY})
    assert vault.read("uid-1").values == {"TOKEN": CANARY}
    with pool.connection() as conn:
        row = conn.execute("SELECT kek_provider, kek_id, kek_annotations FROM packages").fetchone()
    assert row == ("kms-v2", "kms-key-1", {"kms.ferris.io": "YWVzLTI1Ni1nY20="})  # the plugin's, base64


def test_tampered_ciphertext_a_wrong_key_id_and_a_moved_key_fail_closed(
    pool: ConnectionPool, kms: KmsV2Provider
) -> None:
    vault = Vault(pool, uncached(kms))
    for uid in ("uid-a", "uid-b"):
        vault.ingest("ns", uid, uid, {"A": CANARY})
    with pool.connection() as conn:
        wrapped_a = conn.execute("SELECT wrapped_dek FROM packages WHERE uid = 'uid-a'").fetchone()
        assert wrapped_a is not None
        flipped = bytearray(wrapped_a[0])
        flipped[-1] ^= 1
        conn.execute("UPDATE packages SET wrapped_dek = %s WHERE uid = 'uid-a'", (bytes(flipped),))
    with pytest.raises(MasterKeyMismatch, match=r"kms-v2 key 'kms-key-1'.*is healthy and does not decrypt it"):
        vault.read("uid-a")
    with pool.connection() as conn:
        conn.execute("UPDATE packages SET wrapped_dek = %s WHERE uid = 'uid-a'", (wrapped_a[0],))
        conn.execute("UPDATE packages SET kek_id = 'kms-key-9' WHERE uid = 'uid-b'")
    assert vault.read("uid-a").values == {"A": CANARY}  # restored: opens again
    with pytest.raises(MasterKeyMismatch, match="unknown key id"):
        vault.read("uid-b")
    with pool.connection() as conn:  # uid-a's wrapped key copied onto uid-b: the KMS opens it, the binding not
        conn.execute(
            "UPDATE packages SET (wrapped_dek, kek_id, kek_annotations) = "
            "(SELECT wrapped_dek, kek_id, kek_annotations FROM packages WHERE uid = 'uid-a') WHERE uid = 'uid-b'"
        )
    with pytest.raises(MasterKeyMismatch, match="belongs to another holder"):
        vault.read("uid-b")


def test_a_stopped_plugin_waits_instead_of_failing_and_a_cached_key_keeps_runs_going(
    pool: ConnectionPool, plugin: KmsPlugin, kms: KmsV2Provider
) -> None:
    cached = Vault(pool, KeyProviders(kms, cache_seconds=60))
    cold = Vault(pool, uncached(kms))
    cached.ingest("ns", "pkg", "uid-1", {"A": CANARY})
    assert cached.read("uid-1").values == {"A": CANARY}  # now in the cache
    plugin.stop()
    status = kms.status()
    assert not status.healthy and "Status failed" in status.message
    with pytest.raises(KeyProviderUnavailable, match="Decrypt failed"):
        cold.read("uid-1")
    with pytest.raises(KeyProviderUnavailable, match="Encrypt failed"):
        cold.ingest("ns", "new", "uid-2", {"B": "b"})
    assert cached.read("uid-1").values == {"A": CANARY}  # a blip does not stop runs
    with pool.connection() as conn:
        assert conn.execute("SELECT count(*) FROM packages WHERE uid = 'uid-2'").fetchone() == (0,)  # nothing half-made
    plugin.start()
    assert cold.read("uid-1").values == {"A": CANARY}  # the channel finds the plugin again by itself


def test_an_unhealthy_plugin_is_unavailable_not_a_mismatch(
    pool: ConnectionPool, plugin: KmsPlugin, kms: KmsV2Provider
) -> None:
    vault = Vault(pool, uncached(kms))
    vault.ingest("ns", "pkg", "uid-1", {"A": CANARY})
    plugin.unhealthy("the cloud KMS does not answer")
    status = kms.status()
    assert not status.healthy and "the cloud KMS does not answer" in status.message
    with pool.connection() as conn:  # a decrypt that fails while the plugin says it is unhealthy
        conn.execute("UPDATE packages SET kek_id = 'kms-key-9'")
    with pytest.raises(KeyProviderUnavailable, match="unhealthy: the cloud KMS does not answer"):
        vault.read("uid-1")


def test_rotation_in_the_kms_then_rewrap_leaves_no_data_key_on_the_old_key(
    pool: ConnectionPool, plugin: KmsPlugin, kms: KmsV2Provider
) -> None:
    vault = Vault(pool, uncached(kms))
    for i in range(7):
        vault.ingest("ns", f"p{i}", f"uid-{i}", {"V": f"{CANARY}-{i}"})
    vault.service_key("run-tokens")
    plugin.rotate("kms-key-2")
    assert kek_ids_in_use(pool) == {("kms-v2", "kms-key-1"): 8}
    assert rewrap_batch(pool, uncached(kms), batch_size=3) == 3  # then the "process dies"
    while rewrap_batch(pool, uncached(kms), batch_size=3):
        pass
    assert kek_ids_in_use(pool) == {("kms-v2", "kms-key-2"): 8}
    (plugin.keys / "kms-key-1").unlink()  # the old key gone from the KMS: everything still opens
    assert [vault.read(f"uid-{i}").values for i in range(7)] == [{"V": f"{CANARY}-{i}"} for i in range(7)]


def test_migration_from_the_secret_ring_to_the_kms_leaves_the_ring_useless(
    pool: ConnectionPool, ring: KeyRing, kms: KmsV2Provider
) -> None:
    before = Vault(pool, ring_providers(ring))
    for i in range(5):
        before.ingest("ns", f"p{i}", f"uid-{i}", {"V": f"{CANARY}-{i}"})
    token_key = before.service_key("run-tokens")
    migrating = uncached(kms, SecretRingProvider(ring))  # the KMS current, the ring still readable
    during = Vault(pool, migrating)
    during.ingest("ns", "new", "uid-new", {"V": "new"})  # written meanwhile: straight to the KMS
    assert during.read("uid-2").values == {"V": f"{CANARY}-2"}  # the ring's keys read meanwhile
    while rewrap_batch(pool, migrating, batch_size=2):
        pass
    assert kek_ids_in_use(pool) == {("kms-v2", "kms-key-1"): 7}
    after = Vault(pool, uncached(kms))  # the ring unmounted
    assert [after.read(f"uid-{i}").values for i in range(5)] == [{"V": f"{CANARY}-{i}"} for i in range(5)]
    assert after.service_key("run-tokens") == token_key  # run tokens survive the migration
    stolen = Vault(pool, ring_providers(ring))  # a dump plus the ring's files
    for uid in ("uid-0", "uid-new"):
        with pytest.raises(MasterKeyMismatch, match="wrapped by key provider 'kms-v2'"):
            stolen.read(uid)


def test_a_key_of_a_provider_not_configured_is_rejected_by_name(kms: KmsV2Provider, ring: KeyRing) -> None:
    wrapped = kms.wrap("uid-1", b"x")
    with pytest.raises(KeyRejected, match="configured with secret-ring only"):
        ring_providers(ring).unwrap("uid-1", wrapped)


def test_the_plugin_log_holds_no_canary(pool: ConnectionPool, plugin: KmsPlugin, kms: KmsV2Provider) -> None:
    vault = Vault(pool, uncached(kms))
    vault.ingest("ns", "pkg", "uid-1", {"A": CANARY})
    vault.read("uid-1")
    assert "serving KMS v2" in plugin.log() and CANARY not in plugin.log()
