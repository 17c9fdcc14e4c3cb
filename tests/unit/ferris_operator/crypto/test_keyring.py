"""The master-key ring refuses anything missing, short or malformed, naming the file."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from ferris_operator.crypto.keyring import KeyRingError, generate_key_text, load_keyring


def write_ring(tmp_path: Path, keys: dict[str, str], active: str | None) -> Path:
    for name, text in keys.items():
        (tmp_path / name).write_text(text)
    if active is not None:
        (tmp_path / "active").write_text(active + "\n")
    return tmp_path


def test_loads_several_keys_and_the_active_one(tmp_path: Path) -> None:
    ring = load_keyring(write_ring(tmp_path, {"k1": generate_key_text(), "k2": generate_key_text()}, "k2"))
    assert sorted(ring.keys) == ["k1", "k2"] and ring.active_id == "k2"


def test_ignores_kubernetes_secret_volume_links(tmp_path: Path) -> None:
    write_ring(tmp_path, {"k1": generate_key_text()}, "k1")
    (tmp_path / "..data").mkdir()
    assert list(load_keyring(tmp_path).keys) == ["k1"]


@pytest.mark.parametrize(
    ("keys", "active", "message"),
    [
        ({"k1": generate_key_text()}, None, r"active: missing"),
        ({"k1": generate_key_text()}, "k9", r"names 'k9', but there is no key file .*k9"),
        ({"k1": base64.b64encode(b"short").decode()}, "k1", r"k1: key is 5 bytes, must be 32"),
        ({"k1": "not base64!!"}, "k1", r"k1: not valid base64"),
        ({"Bad_Name": generate_key_text()}, "Bad_Name", r"Bad_Name: key file name must be a key id"),
    ],
    ids=["no-active", "active-missing", "short", "malformed", "bad-id"],
)
def test_bad_rings_name_the_file(tmp_path: Path, keys: dict[str, str], active: str | None, message: str) -> None:
    with pytest.raises(KeyRingError, match=message):
        load_keyring(write_ring(tmp_path, keys, active))


def test_missing_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(KeyRingError, match="does not exist; mount the master-key Secret"):
        load_keyring(tmp_path / "nope")
