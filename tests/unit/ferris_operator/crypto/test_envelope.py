"""Envelope encryption: round trips, and every tampering path fails closed."""

from __future__ import annotations

import base64
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferris_ciphertext.format import CiphertextError, Kind, MalformedCiphertext, TamperedCiphertext, UnknownKeyId, split
from ferris_operator.crypto.envelope import decrypt_value, encrypt_value, new_data_key, unwrap_data_key, wrap_data_key
from ferris_operator.crypto.keyring import KeyRing
from ferris_operator.kek.base import KeyRejected
from ferris_operator.kek.secret_ring import SecretRingProvider

RING = KeyRing({"k1": b"\x01" * 32, "k2": b"\x02" * 32}, "k1")
DEK = new_data_key()

json_values = st.recursive(
    st.text() | st.integers() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True)


@given(value=json_values, name=names, version=st.integers(1, 10**6))
def test_value_round_trips(value: object, name: str, version: int) -> None:
    blob = encrypt_value(DEK, "uid-a", name, version, value)
    assert decrypt_value(DEK, "uid-a", name, version, blob) == value


@settings(max_examples=300)
@given(data=st.data())
def test_any_flipped_byte_fails_closed(data: st.DataObject) -> None:
    blob = bytearray(encrypt_value(DEK, "uid-a", "DB_PASS", 1, "hunter2"))
    index = data.draw(st.integers(0, len(blob) - 1))
    blob[index] ^= data.draw(st.integers(1, 255))
    with pytest.raises(CiphertextError):
        decrypt_value(DEK, "uid-a", "DB_PASS", 1, bytes(blob))


@given(cut=st.integers(0, 60))
def test_truncation_fails_as_malformed_or_tampered(cut: int) -> None:
    blob = encrypt_value(DEK, "uid-a", "DB_PASS", 1, "hunter2")
    with pytest.raises((MalformedCiphertext, TamperedCiphertext)):
        decrypt_value(DEK, "uid-a", "DB_PASS", 1, blob[: len(blob) - 1 - cut])


def test_header_truncated_below_minimum_is_malformed() -> None:
    with pytest.raises(MalformedCiphertext, match=r"bad magic|truncated"):
        decrypt_value(DEK, "uid-a", "DB_PASS", 1, b"FRS\x01")


@pytest.mark.parametrize(
    ("uid", "name", "version"),
    [("uid-b", "DB_PASS", 1), ("uid-a", "DB_NAME", 1), ("uid-a", "DB_PASS", 2)],
    ids=["swapped-package", "swapped-name", "swapped-version"],
)
def test_value_moved_to_another_context_is_tampered(uid: str, name: str, version: int) -> None:
    blob = encrypt_value(DEK, "uid-a", "DB_PASS", 1, "hunter2")
    with pytest.raises(TamperedCiphertext, match="another context"):
        decrypt_value(DEK, uid, name, version, blob)


def test_swapped_rows_between_secrets_fail() -> None:
    a = encrypt_value(DEK, "uid-a", "A", 1, "one")
    b = encrypt_value(DEK, "uid-a", "B", 1, "two")
    with pytest.raises(TamperedCiphertext):
        decrypt_value(DEK, "uid-a", "A", 1, b)
    with pytest.raises(TamperedCiphertext):
        decrypt_value(DEK, "uid-a", "B", 1, a)


def test_value_under_another_data_key_names_that_key() -> None:
    blob = encrypt_value(new_data_key(), "uid-a", "A", 1, "one")
    with pytest.raises(UnknownKeyId, match="data key id 'dek-"):
        decrypt_value(DEK, "uid-a", "A", 1, blob)


def ring(keys: KeyRing) -> SecretRingProvider:
    return SecretRingProvider(keys)


def test_wrapped_dek_round_trips_and_carries_the_active_key_id() -> None:
    wrapped = wrap_data_key(ring(RING), "uid-a", DEK)
    assert (wrapped.provider, wrapped.key_id) == ("secret-ring", "k1")
    assert split(wrapped.ciphertext, Kind.WRAPPED_DEK)[0].key_id == "k1"  # the format stored before providers
    unwrapped = unwrap_data_key(ring(RING), "uid-a", wrapped)
    assert unwrapped.key == DEK.key and unwrapped.key_id == DEK.key_id


def test_wrapped_dek_of_another_package_is_rejected() -> None:
    wrapped = wrap_data_key(ring(RING), "uid-a", DEK)
    with pytest.raises(KeyRejected, match="TamperedCiphertext"):
        unwrap_data_key(ring(RING), "uid-b", wrapped)


def test_wrong_master_key_is_rejected() -> None:
    wrapped = wrap_data_key(ring(RING), "uid-a", DEK)
    impostor = KeyRing({"k1": b"\x09" * 32}, "k1")
    with pytest.raises(KeyRejected, match="TamperedCiphertext"):
        unwrap_data_key(ring(impostor), "uid-a", wrapped)


def test_unknown_master_key_id_is_named() -> None:
    wrapped = wrap_data_key(ring(RING), "uid-a", DEK)
    with pytest.raises(KeyRejected, match=r"master key 'k1' of the key ring \(k2\).*UnknownKeyId"):
        unwrap_data_key(ring(KeyRing({"k2": b"\x02" * 32}, "k2")), "uid-a", wrapped)


def test_rewrap_moves_to_the_active_key_and_keeps_the_dek() -> None:
    wrapped = wrap_data_key(ring(RING), "uid-a", DEK)
    rotated = ring(KeyRing(RING.keys, "k2"))
    rewrapped = wrap_data_key(rotated, "uid-a", unwrap_data_key(rotated, "uid-a", wrapped))
    assert rewrapped.key_id == "k2"
    assert unwrap_data_key(rotated, "uid-a", rewrapped).key == DEK.key


def test_reprs_never_show_key_bytes() -> None:
    ring = KeyRing({"k1": os.urandom(32), "k2": os.urandom(32)}, "k1")
    for holder, key in [(ring, ring.keys["k1"]), (ring, ring.keys["k2"]), (DEK, DEK.key)]:
        text = repr(holder) + str(holder)
        escaped = repr(key)[2:-1]  # the bytes as Python prints them, without b'...'
        for form in (escaped, key.hex(), base64.b64encode(key).decode(), base64.urlsafe_b64encode(key).decode()):
            assert form not in text
