"""A database dumped and restored elsewhere: with the same master key every secret, every
scope and the whole history read back; with another key every read and write fails closed
with MasterKeyMismatch, saying which key wrapped the data, and nothing is overwritten or
re-encrypted."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from ferris_devcluster.postgres import LocalPostgres
from ferris_operator.crypto.keyring import KeyRing
from ferris_operator.kek.secret_ring import ring_providers
from ferris_operator.problems import MasterKeyMismatch
from ferris_operator.records import NewRun, Scope
from ferris_operator.store.db import open_pool
from ferris_operator.store.runs import RunStore
from ferris_operator.store.scopes import ScopeStore
from ferris_operator.store.vault import Vault

CANARY = "restore-c4n4ry-" + uuid.uuid4().hex


@pytest.fixture
def restored(postgres_server: LocalPostgres, database_url: str, pool: ConnectionPool) -> Iterator[str]:
    """``database_url`` dumped (custom format) and restored into a new database; its URL."""
    name = "r_" + uuid.uuid4().hex[:12]
    dump = subprocess.run(
        [str(postgres_server.bin_dir / "pg_dump"), "--format=custom", "--dbname", database_url],
        check=True,
        capture_output=True,
    ).stdout
    with psycopg.connect(postgres_server.url_for("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(
        [str(postgres_server.bin_dir / "pg_restore"), "--no-owner", "--dbname", postgres_server.url_for(name)],
        input=dump,
        check=True,
        capture_output=True,
    )
    yield postgres_server.url_for(name)
    with psycopg.connect(postgres_server.url_for("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def rows(url: str) -> list[tuple[object, ...]]:
    """Every stored data key and ciphertext, to compare before and after."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT p.uid, p.wrapped_dek, p.kek_id, p.secrets_version, s.name, s.version, s.ciphertext"
            " FROM packages p LEFT JOIN secrets s ON s.package_uid = p.uid ORDER BY p.uid, s.name, s.version"
        ).fetchall()


@pytest.fixture
def written(pool: ConnectionPool, ring: KeyRing) -> None:
    vault, runs = Vault(pool, ring_providers(ring)), RunStore(pool)
    vault.ingest("team", "pkg", "pkg-uid", {"A": CANARY, "B": {"nested": CANARY}})
    vault.ingest("team", "scope:project", "prj-uid", {"P": CANARY}, keep_written=True)
    ScopeStore(pool).register(Scope("prj-uid", "project", "team", "project", {}, [{"package": "pkg"}]))
    vault.write_one(
        "prj-uid", "project", "T", CANARY, {"uid": "r1", "namespace": "team", "name": "r1", "package": "pkg"}
    )
    runs.record_start(NewRun("r1", "team", "r1", "pkg", "pkg-uid", 1, 1, "digest", ["a.py"], {"p": 1}))
    vault.state_put("pkg-uid", "cursor", {"at": 3})


def test_with_the_same_master_key_everything_reads_back(written: None, restored: str, ring: KeyRing) -> None:
    with open_pool(restored, max_size=2) as pool:
        vault = Vault(pool, ring_providers(ring))
        assert vault.read("pkg-uid").values == {"A": CANARY, "B": {"nested": CANARY}}
        assert vault.read_current(["prj-uid"])["prj-uid"].values == {"P": CANARY, "T": CANARY}
        assert vault.state_get("pkg-uid") == {"cursor": {"at": 3}}
        record = RunStore(pool).get("r1")
        assert record is not None and record.params == {"p": 1} and record.package_name == "pkg"
        assert [w.name for w in ScopeStore(pool).writes("team")] == ["T"]


def test_with_another_master_key_everything_fails_closed_and_nothing_changes(written: None, restored: str) -> None:
    before = rows(restored)
    other = KeyRing({"k1": os.urandom(32)}, "k1")  # same id, other bytes: the worst case
    with open_pool(restored, max_size=2) as pool:
        vault = Vault(pool, ring_providers(other))
        attempts = (
            lambda: vault.read("pkg-uid"),
            lambda: vault.verify("pkg-uid"),
            lambda: vault.ingest("team", "pkg", "pkg-uid", {"A": "new"}),
            lambda: vault.ensure_package("team", "pkg", "pkg-uid"),
            lambda: vault.read_current(["prj-uid"]),
            lambda: vault.write_one(
                "prj-uid", "project", "T", "x", {"uid": "r2", "namespace": "team", "name": "r2", "package": "pkg"}
            ),
            lambda: vault.state_get("pkg-uid"),
            lambda: vault.state_put("pkg-uid", "cursor", {"at": 4}),
        )
        for attempt in attempts:
            with pytest.raises(MasterKeyMismatch) as caught:
                attempt()
            assert "wrapped by secret-ring key 'k1'" in str(caught.value) and "Nothing was changed" in str(caught.value)
            assert CANARY not in str(caught.value)
    assert rows(restored) == before  # not overwritten, not re-encrypted


def test_a_ring_without_the_key_id_names_the_key_it_needs(written: None, restored: str) -> None:
    mismatch = pytest.raises(MasterKeyMismatch, match=r"wrapped by secret-ring key 'k1'.*key ring \(k9\)")
    with open_pool(restored, max_size=2) as pool, mismatch:
        Vault(pool, ring_providers(KeyRing({"k9": os.urandom(32)}, "k9"))).read("pkg-uid")
