"""Masking of secret values in output, with their escaped forms."""

from __future__ import annotations

from ferris_runner.masking import Masker


def test_masks_values_and_their_escaped_forms() -> None:
    mask = Masker({"PASS": 'pa"ss$word', "CONN": {"user": "admin-user", "port": 5432}, "SHORT": "abc", "FLAG": True})
    text = 'pa"ss$word pa\\"ss$word admin-user 5432 abc True'
    assert mask(text) == "**** **** **** **** abc True"
    assert mask(str({"user": "admin-user", "port": 5432})) == "****"
