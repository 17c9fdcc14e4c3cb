"""Run tokens: good for their own run only, signed under the run-token service key, and those
signed under a mounted master key before the upgrade still verify."""

from __future__ import annotations

import pytest

from ferris_operator.crypto.keyring import KeyRing
from ferris_operator.crypto.run_tokens import RunTokens
from tests.unit.ferris_operator.fakes import RING

SERVICE = ("dek-0123456789ab", b"\x07" * 32)


def test_a_run_token_is_good_for_its_own_run_only_and_cannot_be_forged() -> None:
    tokens = RunTokens.of(*SERVICE, RING)
    token = tokens.issue("run-1")
    assert tokens.verify("run-1", token)
    assert not tokens.verify("run-2", token)
    prefix, key_id, nonce, mac = token.split(".")
    assert key_id == SERVICE[0]  # new tokens are signed under the service key, not a master key
    other = "B" if nonce.endswith("A") else "A"  # another last character, whatever the nonce ends with
    assert not tokens.verify("run-1", f"{prefix}.{key_id}.{nonce[:-1]}{other}.{mac}")
    assert not tokens.verify("run-1", f"{prefix}.k2.{nonce}.{mac}")
    assert not tokens.verify("run-1", f"{prefix}.nope.{nonce}.{mac}")
    assert not tokens.verify("run-1", token + "x" * 300)
    assert not tokens.verify("run-1", "")
    assert not RunTokens.of(SERVICE[0], b"\x09" * 32).verify("run-1", token)  # another service key


def test_tokens_signed_under_a_mounted_master_key_before_the_upgrade_still_verify() -> None:
    before = RunTokens(dict(RING.keys), RING.active_id).issue("run-1")  # as the operator signed before
    after = RunTokens.of(*SERVICE, RING)
    assert after.verify("run-1", before)
    assert not RunTokens.of(*SERVICE).verify("run-1", before)  # the ring unmounted: no longer
    assert not RunTokens.of(*SERVICE, KeyRing({"k1": b"\x09" * 32}, "k1")).verify("run-1", before)


def test_the_active_key_must_be_among_the_keys() -> None:
    with pytest.raises(ValueError, match="active run-token key"):
        RunTokens({"k1": b"\x01" * 32}, "k2")


def test_a_stamp_is_good_for_exactly_its_parts_and_verifies_after_the_active_key_changes() -> None:
    tokens = RunTokens.of(*SERVICE)
    stamp = tokens.stamp("retry", "team", "nightly-attempt-2", "7", "run-1")
    assert tokens.stamped(stamp, "retry", "team", "nightly-attempt-2", "7", "run-1")
    assert not tokens.stamped(stamp, "retry", "team", "nightly-attempt-2", "8", "run-1")
    assert not tokens.stamped(stamp, "retry", "team", "nightly-attempt-27", "", "run-1")  # parts stay apart
    assert not tokens.stamped(stamp.replace("fs1.", "frt1."), "retry", "team", "nightly-attempt-2", "7", "run-1")
    assert not tokens.stamped("", "retry") and not tokens.stamped(stamp + "." * 300, "retry")
    rotated = RunTokens({"dek-fedcba987654": b"\x08" * 32}, "dek-fedcba987654")
    rotated.add(*SERVICE)
    assert rotated.stamped(stamp, "retry", "team", "nightly-attempt-2", "7", "run-1")
    assert not RunTokens.of(SERVICE[0], b"\x09" * 32).stamped(stamp, "retry", "team", "nightly-attempt-2", "7", "run-1")
