"""`ferris keys` against a real PostgreSQL: status, rewrap to a new active key, retire."""

from __future__ import annotations

from pathlib import Path

import pytest
from psycopg_pool import ConnectionPool

from ferris_operator.cli.main import main
from ferris_operator.crypto.keyring import generate_key_text, load_keyring
from ferris_operator.kek.secret_ring import ring_providers
from ferris_operator.store.vault import Vault


def key_dir(tmp_path: Path, active: str) -> Path:
    (tmp_path / "k1").write_text(generate_key_text())
    (tmp_path / "k2").write_text(generate_key_text())
    (tmp_path / "active").write_text(active)
    return tmp_path


def test_rotate_rewrap_then_retire(
    pool: ConnectionPool, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = key_dir(tmp_path, "k1")
    vault = Vault(pool, ring_providers(load_keyring(keys)))
    for i in range(3):
        vault.ingest("ns", f"p{i}", f"uid-{i}", {"A": f"v{i}"})
    assert main(["keys", "status", "--database-url", database_url]) == 0
    assert "secret-ring\tk1\t3 data keys" in capsys.readouterr().out

    (keys / "active").write_text("k2")
    assert main(["keys", "retire", "k1", "--database-url", database_url, "--master-key-dir", str(keys)]) == 1
    assert "refusing to retire k1: it still wraps 3 data keys" in capsys.readouterr().err
    assert (
        main(["keys", "rewrap", "--database-url", database_url, "--master-key-dir", str(keys), "--batch-size", "2"])
        == 0
    )
    assert "all data keys are wrapped by secret-ring key k2 (3 rewrapped now)" in capsys.readouterr().out
    assert main(["keys", "retire", "k1", "--database-url", database_url, "--master-key-dir", str(keys)]) == 0
    assert "k1 wraps no data key" in capsys.readouterr().out
    (keys / "k1").unlink()
    assert Vault(pool, ring_providers(load_keyring(keys))).read("uid-2").values == {"A": "v2"}


def test_generated_key_is_32_random_bytes(capsys: pytest.CaptureFixture[str]) -> None:
    import base64

    assert main(["keys", "generate"]) == 0
    assert len(base64.b64decode(capsys.readouterr().out.strip())) == 32
