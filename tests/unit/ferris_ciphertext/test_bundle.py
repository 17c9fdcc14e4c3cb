"""The run bundle opens only with its run key and for its own run, and vouches for the files
sealed with it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ferris_ciphertext.bundle import BundleMismatch, new_run_key, open_bundle, seal_bundle
from ferris_ciphertext.format import CiphertextError, TamperedCiphertext


def test_round_trip() -> None:
    key = new_run_key()
    secrets = {"A": "1", "B": {"nested": True}}
    bundle = open_bundle(key, "run-1", seal_bundle(key, "run-1", secrets, {"run.json": "{}"}))
    assert bundle.secrets == secrets
    assert bundle.verify("run.json", b"{}") == b"{}"


def test_bundle_of_another_run_or_key_fails() -> None:
    key = new_run_key()
    blob = seal_bundle(key, "run-1", {"A": "1"}, {})
    with pytest.raises(TamperedCiphertext):
        open_bundle(key, "run-2", blob)
    with pytest.raises(TamperedCiphertext):
        open_bundle(new_run_key(), "run-1", blob)


def test_a_file_other_than_the_sealed_one_is_refused() -> None:
    key = new_run_key()
    bundle = open_bundle(key, "run-1", seal_bundle(key, "run-1", {}, {"script.0": "print(1)"}))
    with pytest.raises(BundleMismatch):
        bundle.verify("script.0", b"print(2)")
    with pytest.raises(BundleMismatch):
        bundle.verify("script.1", b"print(1)")  # not sealed at all


def test_the_repr_names_no_value() -> None:
    key = new_run_key()
    bundle = open_bundle(key, "run-1", seal_bundle(key, "run-1", {"A": "v4lue-canary"}, {}))
    assert "v4lue-canary" not in repr(bundle) and "A" in repr(bundle)


def test_scoped_secrets_travel_sealed_and_an_older_bundle_has_none() -> None:
    key = new_run_key()
    scopes = {"project": {"P": "p-value"}, "platform": {"G": "g-value"}}
    blob = seal_bundle(key, "run-1", {"A": "a"}, {"run.json": "{}"}, scopes)
    assert b"p-value" not in blob
    opened = open_bundle(key, "run-1", blob)
    assert opened.scopes == scopes and "p-value" not in repr(opened)
    assert open_bundle(key, "run-1", seal_bundle(key, "run-1", {"A": "a"}, {})).scopes == {}


@given(data=st.data())
def test_any_flipped_byte_of_a_bundle_with_scopes_fails_closed(data: st.DataObject) -> None:
    key = new_run_key()
    blob = bytearray(seal_bundle(key, "run-1", {"A": "a"}, {}, {"project": {"P": "p-value"}}))
    index = data.draw(st.integers(0, len(blob) - 1))
    blob[index] ^= data.draw(st.integers(1, 255))
    with pytest.raises(CiphertextError):
        open_bundle(key, "run-1", bytes(blob))
