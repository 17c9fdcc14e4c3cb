"""Names and conditions."""

from __future__ import annotations

from ferris_operator import model


def test_names_are_deterministic_and_fit_in_63_characters() -> None:
    assert model.job_name("nightly-abc12") == "nightly-abc12-run"
    assert model.bundle_name("x" * 56) == "x" * 56 + "-bundle"  # the longest run name the CRD admits
    # Longer names get a digest of the whole name: the same in every process, and still unique.
    long_name = "x" * 60
    assert model.job_name(long_name) == "x" * 50 + "-42f2d973-run"
    assert model.bundle_name(long_name) == "x" * 47 + "-42f2d973-bundle"
    assert len(model.key_secret_name(long_name)) <= 63
    assert model.job_name(long_name) != model.job_name("x" * 59 + "y")


def test_condition_keeps_its_transition_time_while_status_holds() -> None:
    first = model.condition("Ready", True, "Ready", "ok", 1)
    first["lastTransitionTime"] = "2020-01-01T00:00:00Z"
    again = model.condition("Ready", True, "Ready", "still ok", 2, [first])
    assert again["lastTransitionTime"] == "2020-01-01T00:00:00Z" and again["observedGeneration"] == 2
    flipped = model.condition("Ready", False, "Broken", "no", 3, [first])
    assert flipped["lastTransitionTime"] != "2020-01-01T00:00:00Z"
