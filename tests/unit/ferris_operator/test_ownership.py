"""A run's children are its own only through the controller ownerReference in its namespace."""

from __future__ import annotations

from ferris_operator import model, ownership
from tests.unit.ferris_operator.fakes import obj, owner


def test_only_the_controller_reference_in_the_same_namespace_makes_an_object_the_runs() -> None:
    assert ownership.owned_by_run(obj("a", owner("FerrisRun", "u1")), "u1", "a")
    assert not ownership.owned_by_run(obj("b", owner("FerrisRun", "u1")), "u1", "a")  # other namespace
    assert not ownership.owned_by_run(obj("a", owner("FerrisRun", "u2")), "u1", "a")
    assert not ownership.owned_by_run(obj("a", {**owner("FerrisRun", "u1"), "controller": False}), "u1", "a")
    assert not ownership.owned_by_run(obj("a", owner("FerrisRun", "u1", "evil.io/v1")), "u1", "a")
    assert not ownership.owned_by_run(obj("a", labels={model.LABEL_RUN_UID: "u1"}), "u1", "a")
