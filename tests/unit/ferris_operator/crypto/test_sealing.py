"""Sealed texts open only for the package they were sealed for, under a known key."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferris_ciphertext.format import CiphertextError, MalformedCiphertext, TamperedCiphertext, UnknownKeyId
from ferris_operator.crypto.sealing import PREFIX, PublicSealingKey, SealingKeyRing, new_sealing_key, seal_text

KEY_ID, PRIVATE = new_sealing_key()
RING = SealingKeyRing({KEY_ID: PRIVATE}, KEY_ID)


@given(payload=st.binary(max_size=512))
def test_round_trip(payload: bytes) -> None:
    assert RING.open(seal_text(RING.active_public, payload, "team-a", "pkg"), "team-a", "pkg") == payload


@pytest.mark.parametrize(("namespace", "package"), [("team-b", "pkg"), ("team-a", "other")])
def test_sealed_for_another_package_fails_with_the_reason(namespace: str, package: str) -> None:
    sealed = seal_text(RING.active_public, b"{}", "team-a", "pkg")
    with pytest.raises(TamperedCiphertext, match=f"does not open for package {namespace}/{package}"):
        RING.open(sealed, namespace, package)


@settings(max_examples=200)
@given(data=st.data())
def test_any_flipped_byte_fails_closed(data: st.DataObject) -> None:
    sealed = seal_text(RING.active_public, b'{"A": "1"}', "ns", "pkg")
    blob = bytearray(base64.b64decode(sealed[len(PREFIX) :]))
    index = data.draw(st.integers(0, len(blob) - 1))
    blob[index] ^= data.draw(st.integers(1, 255))
    with pytest.raises(CiphertextError):
        RING.open(PREFIX + base64.b64encode(bytes(blob)).decode(), "ns", "pkg")


def test_rotation_keeps_old_texts_openable_until_retired() -> None:
    new_id, new_private = new_sealing_key()
    old_text = seal_text(RING.active_public, b"old", "ns", "pkg")
    rotated = SealingKeyRing({KEY_ID: PRIVATE, new_id: new_private}, new_id)
    assert rotated.open(old_text, "ns", "pkg") == b"old"
    assert rotated.open(seal_text(rotated.active_public, b"new", "ns", "pkg"), "ns", "pkg") == b"new"
    retired = SealingKeyRing({new_id: new_private}, new_id)
    with pytest.raises(UnknownKeyId, match=f"sealing key id '{KEY_ID}'"):
        retired.open(old_text, "ns", "pkg")


def test_text_without_prefix_is_malformed() -> None:
    with pytest.raises(MalformedCiphertext, match="must start with 'ferris-sealed:v1:'"):
        RING.open("hello", "ns", "pkg")


def test_public_key_text_round_trips_and_rejects_garbage() -> None:
    text = RING.active_public.to_text()
    assert PublicSealingKey.from_text(text) == RING.active_public
    with pytest.raises(ValueError, match="KEY_ID:BASE64"):
        PublicSealingKey.from_text("nonsense")
