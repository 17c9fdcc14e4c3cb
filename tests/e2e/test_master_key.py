"""The operator started beside another master key than the database was written with (a
restore gone wrong): every package says MasterKeyMismatch, a run refuses to start with that
reason, nothing is overwritten; with the right key back, the same package is Ready again and
runs with the secrets it had."""

from __future__ import annotations

import base64
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from .conftest import Ferris

pytestmark = pytest.mark.cluster


@contextmanager
def another_master_key(ferris: Ferris) -> Iterator[None]:
    """The operator restarted with a key ring of the same id and other bytes (the worst case:
    nothing but the data keys themselves can tell); the right ring back afterwards, whatever
    happens."""
    stack = ferris.stack
    saved = stack.directory / "master-key.saved"
    shutil.copytree(stack.key_dir, saved)
    try:
        stack.stop_operator()
        (stack.key_dir / "k1").write_text(base64.b64encode(os.urandom(32)).decode())
        stack.start_operator()
        yield
    finally:
        stack.stop_operator()
        shutil.rmtree(stack.key_dir)
        shutil.copytree(saved, stack.key_dir)
        shutil.rmtree(saved)
        stack.start_operator()


def stored(ferris: Ferris, uid: str) -> list[tuple[object, ...]]:
    with psycopg.connect(ferris.stack.postgres.url) as conn:
        return conn.execute(
            "SELECT p.wrapped_dek, p.kek_id, p.secrets_version, s.name, s.version, s.ciphertext FROM packages p"
            " JOIN secrets s ON s.package_uid = p.uid WHERE p.uid = %s ORDER BY s.name, s.version",
            (uid,),
        ).fetchall()


def test_another_master_key_stops_runs_with_a_clear_reason_and_the_right_one_brings_them_back(
    ferris: Ferris, ns: str
) -> None:
    value = "mk-" + uuid.uuid4().hex
    ferris.secret(ns, "keyed-source", json.dumps({"TOKEN": value}))
    script = "from ferris_ef import get_secret\nprint('length', len(get_secret('TOKEN')))\n"
    ferris.package(ns, "keyed", script, secretsFrom={"secretName": "keyed-source"})
    ferris.wait_condition(ns, "ferrispackage", "keyed", "Ready")
    uid = ferris.get(ns, "ferrispackage", "keyed")["metadata"]["uid"]
    before = stored(ferris, uid)

    with another_master_key(ferris):
        condition = ferris.wait_condition(ns, "ferrispackage", "keyed", "MasterKeyMismatch")
        assert "wrapped by secret-ring key 'k1'" in condition["message"]
        assert "Nothing was changed" in condition["message"] and value not in condition["message"]
        assert ferris.wait_events(ns, "keyed", "MasterKeyMismatch")
        refused = ferris.wait_run(ns, ferris.create_run(ns, "keyed"))
        [succeeded] = [c for c in refused["status"]["conditions"] if c["type"] == "Succeeded"]
        assert (refused["status"]["phase"], succeeded["reason"]) == ("Failed", "MasterKeyMismatch")
        assert not ferris.exists(ns, "job", f"{refused['metadata']['name']}-run")
        assert stored(ferris, uid) == before  # not overwritten, not re-encrypted

    ferris.wait_condition(ns, "ferrispackage", "keyed", "Ready")
    assert stored(ferris, uid) == before
    run = ferris.wait_run(ns, ferris.create_run(ns, "keyed"))
    assert run["status"]["phase"] == "Succeeded", json.dumps(run["status"], indent=1)
    assert ferris.steps(run["metadata"]["uid"])[0][4].strip() == f"length {len(value)}"
