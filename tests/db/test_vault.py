"""The vault against a real PostgreSQL: ingestion, re-ingestion, rotation, and no plaintext at rest."""

from __future__ import annotations

import hashlib

import pytest
from psycopg_pool import ConnectionPool

from ferris_ciphertext.format import TamperedCiphertext, UnknownKeyId
from ferris_devcluster.postgres import LocalPostgres
from ferris_operator.crypto.keyring import KeyRing
from ferris_operator.kek.secret_ring import ring_providers
from ferris_operator.problems import PackageNotStored
from ferris_operator.records import NewRun
from ferris_operator.store.key_rotation import kek_ids_in_use, rewrap_batch
from ferris_operator.store.runs import RunStore
from ferris_operator.store.vault import Vault, VersionGone
from tests.canaries import assert_no_canary

CANARY = 'canary-Zq9!x"7$'


def test_ingest_then_read_back(pool: ConnectionPool, ring: KeyRing) -> None:
    vault = Vault(pool, ring_providers(ring))
    assert vault.ingest("ns", "pkg", "uid-1", {"DB_NAME": "test_db", "CONN": {"port": 5432}}) == 1
    stored = vault.read("uid-1")
    assert stored.version == 1
    assert stored.values == {"DB_NAME": "test_db", "CONN": {"port": 5432}}


def test_reingest_replaces_the_set_and_bumps_the_version(pool: ConnectionPool, ring: KeyRing) -> None:
    vault = Vault(pool, ring_providers(ring))
    vault.ingest("ns", "pkg", "uid-1", {"A": "1", "B": "2"})
    assert vault.ingest("ns", "pkg", "uid-1", {"A": "one", "C": "3"}) == 2
    assert vault.read("uid-1").values == {"A": "one", "C": "3"}
    with pool.connection() as conn:
        assert conn.execute("SELECT DISTINCT version FROM secrets WHERE package_uid = 'uid-1'").fetchall() == [(2,)]


def test_one_source_taken_in_twice_makes_one_version(pool: ConnectionPool, ring: KeyRing) -> None:
    """A handler and the periodic re-read that both read one Secret before either deleted it."""
    vault = Vault(pool, ring_providers(ring))
    source = "secret:shared uid-s1 resourceVersion:41"
    assert vault.ingest("ns", "pkg", "uid-1", {"A": "1"}, source=source) == 1
    assert vault.ingest("ns", "pkg", "uid-1", {"A": "1"}, source=source) == 1
    assert vault.ingest("ns", "pkg", "uid-1", {"A": "2"}, source="secret:shared uid-s2 resourceVersion:57") == 2
    assert vault.ingest("ns", "pkg", "uid-1", {"A": "3"}) == 3  # an upload names no source
    assert vault.ingest("ns", "pkg", "uid-1", {"A": "1"}, source=source) == 4  # taken in again after it
    assert vault.read("uid-1").values == {"A": "1"}


def test_rows_swapped_between_packages_fail_closed(pool: ConnectionPool, ring: KeyRing) -> None:
    vault = Vault(pool, ring_providers(ring))
    vault.ingest("ns", "a", "uid-a", {"X": "from-a"})
    vault.ingest("ns", "b", "uid-b", {"X": "from-b"})
    with pool.connection() as conn:
        conn.execute(
            "UPDATE secrets SET ciphertext = (SELECT ciphertext FROM secrets WHERE package_uid = 'uid-b')"
            " WHERE package_uid = 'uid-a'"
        )
    with pytest.raises(UnknownKeyId) as caught:  # b's row names b's data key, which a does not hold
        vault.read("uid-a")
    assert "from-b" not in str(caught.value)


def test_a_row_moved_to_another_name_fails_closed(pool: ConnectionPool, ring: KeyRing) -> None:
    vault = Vault(pool, ring_providers(ring))
    vault.ingest("ns", "a", "uid-a", {"X": "x", "Y": "y"})
    with pool.connection() as conn:
        conn.execute(
            "UPDATE secrets SET ciphertext = (SELECT ciphertext FROM secrets WHERE name = 'Y') WHERE name = 'X'"
        )
    with pytest.raises(TamperedCiphertext):
        vault.read("uid-a")


def test_forget_removes_every_row(pool: ConnectionPool, ring: KeyRing) -> None:
    vault = Vault(pool, ring_providers(ring))
    vault.ingest("ns", "a", "uid-a", {"X": "x"})
    vault.state_put("uid-a", "k", {"v": 1})
    vault.ingest("ns", "b", "uid-b", {"X": "y"})  # another package keeps its rows
    vault.state_put("uid-b", "k", {"v": 2})
    vault.forget("uid-a")
    with pool.connection() as conn:
        for table, column in (("packages", "uid"), ("secrets", "package_uid"), ("package_state", "package_uid")):
            rows = conn.execute(f"SELECT {column}, count(*) FROM {table} GROUP BY {column}").fetchall()  # noqa: S608
            assert dict(rows) == {"uid-b": 1}, table
    assert vault.read("uid-a").values == {}
    with pytest.raises(PackageNotStored):  # what a run start asks: never "no secrets" for it
        vault.read("uid-a", missing_ok=False)


def test_rewrap_interrupted_halfway_resumes_and_never_touches_values(pool: ConnectionPool, ring: KeyRing) -> None:
    vault = Vault(pool, ring_providers(ring))
    for i in range(25):
        vault.ingest("ns", f"p{i}", f"uid-{i:02}", {"V": f"value-{i}"})
    with pool.connection() as conn:
        before = conn.execute("SELECT package_uid, ciphertext FROM secrets ORDER BY 1").fetchall()
    rotated = KeyRing(ring.keys, "k2")
    assert rewrap_batch(pool, ring_providers(rotated), batch_size=10) == 10  # then the "process dies"
    assert kek_ids_in_use(pool) == {("secret-ring", "k1"): 15, ("secret-ring", "k2"): 10}
    while rewrap_batch(pool, ring_providers(rotated), batch_size=10):
        pass
    assert kek_ids_in_use(pool) == {("secret-ring", "k2"): 25}
    with pool.connection() as conn:
        after = conn.execute("SELECT package_uid, ciphertext FROM secrets ORDER BY 1").fetchall()
    assert after == before
    only_new = KeyRing({"k2": ring.keys["k2"]}, "k2")
    assert Vault(pool, ring_providers(only_new)).read("uid-07").values == {"V": "value-7"}


def test_pg_dump_never_contains_a_canary(
    postgres_server: LocalPostgres, database_url: str, pool: ConnectionPool, ring: KeyRing
) -> None:
    vault = Vault(pool, ring_providers(ring))
    vault.ingest("ns", "pkg", "uid-canary", {"CANARY": CANARY, "NESTED": {"inner": CANARY}})
    vault.ingest("ns", "pkg", "uid-canary", {"CANARY": CANARY})
    dump = postgres_server.dump(database_url.rsplit("/", 1)[1])
    assert b"uid-canary" in dump  # the dump really holds the package
    assert_no_canary("the pg_dump", dump, [CANARY])


def test_versions_that_active_runs_pin_survive_a_reupload_and_go_once_unpinned(
    pool: ConnectionPool, ring: KeyRing
) -> None:
    vault, runs = Vault(pool, ring_providers(ring)), RunStore(pool)
    vault.ingest("ns", "pkg", "uid-p", {"PASS": "one"})
    runs.record_start(NewRun("run-1", "ns", "r1", "pkg", "uid-p", 1, 1, "digest", ["a.py"]))  # pins version 1
    vault.ingest("ns", "pkg", "uid-p", {"PASS": "two"})
    assert vault.read("uid-p").values == {"PASS": "two"}
    assert vault.read("uid-p", 1).values == {"PASS": "one"}  # what the active run started with
    runs.finish("run-1", "Succeeded", "Succeeded", "done")
    vault.ingest("ns", "pkg", "uid-p", {"PASS": "three"})
    with pool.connection() as conn:
        assert conn.execute("SELECT DISTINCT version FROM secrets WHERE package_uid = 'uid-p'").fetchall() == [(3,)]
    with pytest.raises(VersionGone):
        vault.read("uid-p", 1)


def test_a_runs_file_opens_for_that_run_param_and_package_only(pool: ConnectionPool, ring: KeyRing) -> None:
    vault = Vault(pool, ring_providers(ring))
    vault.ensure_package("ns", "pkg", "files-pkg")
    vault.ensure_package("ns", "other", "other-pkg")
    content = b"id,secret\n1,f1le-c4n4ry\n" * 1000
    vault.put_param_files("files-pkg", "run-a", {"data": ("rows.csv", content), "more": ("b.bin", b"\x00\xff")})
    assert vault.param_file("files-pkg", "run-a", "data") == content
    assert vault.param_files("files-pkg", "run-a") == {
        "data": {
            "param": "data",
            "name": "rows.csv",
            "bytes": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
        },
        "more": {"param": "more", "name": "b.bin", "bytes": 2, "sha256": hashlib.sha256(b"\x00\xff").hexdigest()},
    }
    assert vault.param_file("other-pkg", "run-a", "data") is None and vault.param_files("other-pkg", "run-a") == {}
    assert vault.param_file("files-pkg", "run-a", "missing") is None
    with pool.connection() as conn:  # a database writer moves the ciphertext to another run or param: it does not open
        conn.execute(
            "INSERT INTO run_param_files SELECT 'run-b', param, package_uid, name, bytes, sha256, ciphertext, now()"
            " FROM run_param_files WHERE run_uid = 'run-a' AND param = 'data'"
        )
        conn.execute(
            "UPDATE run_param_files SET ciphertext = (SELECT ciphertext FROM run_param_files"
            " WHERE run_uid = 'run-a' AND param = 'data') WHERE run_uid = 'run-a' AND param = 'more'"
        )
        stored = conn.execute("SELECT string_agg(encode(ciphertext, 'escape'), '') FROM run_param_files").fetchone()
    for run, param in (("run-b", "data"), ("run-a", "more")):
        with pytest.raises(TamperedCiphertext):
            vault.param_file("files-pkg", run, param)
    assert stored is not None and "f1le-c4n4ry" not in stored[0]


def test_a_runs_secret_params_open_for_that_run_of_that_package_only_and_go_with_its_end(
    pool: ConnectionPool, ring: KeyRing
) -> None:
    vault, runs = Vault(pool, ring_providers(ring)), RunStore(pool)
    vault.ensure_package("ns", "pkg", "params-pkg")
    vault.ensure_package("ns", "other", "other-pkg")
    vault.put_run_params("params-pkg", "run-a", {"token": "pr1v4te-c4n4ry"})
    assert vault.run_params("params-pkg", "run-a") == {"token": "pr1v4te-c4n4ry"}
    assert vault.run_params("other-pkg", "run-a") is None  # the row is the package's
    with pool.connection() as conn:  # a database writer moves the ciphertext to another run: it does not open
        conn.execute(
            "INSERT INTO run_secret_params SELECT 'run-b', package_uid, ciphertext"
            " FROM run_secret_params WHERE run_uid = 'run-a'"
        )
        dumped = conn.execute("SELECT ciphertext FROM run_secret_params WHERE run_uid = 'run-a'").fetchone()
    with pytest.raises(TamperedCiphertext):
        vault.run_params("params-pkg", "run-b")
    assert dumped is not None and b"pr1v4te-c4n4ry" not in bytes(dumped[0])
    runs.record_start(NewRun("run-a", "ns", "a", "pkg", "params-pkg", 1, 1, "digest", ["s.py"]))
    runs.finish("run-a", "Succeeded", "Succeeded", "done")
    assert vault.run_params("params-pkg", "run-a") is None  # gone with the run's end
