"""The run bundle opens only with its run key and for its own run."""

from __future__ import annotations

import pytest

from ferris_runner.bundle import new_run_key, open_bundle, seal_bundle
from ferris_runner.wire import TamperedCiphertext


def test_round_trip() -> None:
    key = new_run_key()
    secrets = {"A": "1", "B": {"nested": True}}
    assert open_bundle(key, "run-1", seal_bundle(key, "run-1", secrets)) == secrets


def test_bundle_of_another_run_or_key_fails() -> None:
    key = new_run_key()
    blob = seal_bundle(key, "run-1", {"A": "1"})
    with pytest.raises(TamperedCiphertext):
        open_bundle(key, "run-2", blob)
    with pytest.raises(TamperedCiphertext):
        open_bundle(new_run_key(), "run-1", blob)
