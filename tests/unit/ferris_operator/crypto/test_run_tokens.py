"""Run tokens: good for their own run only, across master-key rotations."""

from __future__ import annotations

from ferris_operator.crypto.keyring import KeyRing
from ferris_operator.crypto.run_tokens import RunTokens
from tests.unit.ferris_operator.fakes import RING


def test_a_run_token_is_good_for_its_own_run_only_and_cannot_be_forged() -> None:
    tokens = RunTokens(RING)
    token = tokens.issue("run-1")
    assert tokens.verify("run-1", token)
    assert not tokens.verify("run-2", token)
    prefix, key_id, nonce, mac = token.split(".")
    other = "B" if nonce.endswith("A") else "A"  # another last character, whatever the nonce ends with
    assert not tokens.verify("run-1", f"{prefix}.{key_id}.{nonce[:-1]}{other}.{mac}")
    assert not tokens.verify("run-1", f"{prefix}.k2.{nonce}.{mac}")
    assert not tokens.verify("run-1", f"{prefix}.nope.{nonce}.{mac}")
    assert not tokens.verify("run-1", token + "x" * 300)
    assert not tokens.verify("run-1", "")
    assert not RunTokens(KeyRing({"k1": b"\x09" * 32}, "k1")).verify("run-1", token)  # another master key


def test_tokens_issued_before_a_master_key_rotation_still_verify() -> None:
    token = RunTokens(RING).issue("run-1")
    rotated = RunTokens(KeyRing(RING.keys, "k2"))
    assert rotated.verify("run-1", token)
    assert rotated.issue("run-1").split(".")[1] == "k2"
