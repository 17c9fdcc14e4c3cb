"""A run's children are its own only when the operator stamped them for that run, in its
namespace, under their name, with the run as their controller; a label or an ownerReference
alone (anyone may write one) is never enough."""

from __future__ import annotations

from typing import Any

import pytest

from ferris_operator import model, ownership
from ferris_operator.crypto.run_tokens import RunTokens
from ferris_operator.ownership import ForeignObject, Provenance, digest
from tests.unit.ferris_operator.fakes import PROOF, obj, owner


def test_only_the_controller_reference_in_the_same_namespace_makes_an_object_the_runs() -> None:
    assert ownership.owned_by_run(obj("a", owner("FerrisRun", "u1")), "u1", "a")
    assert not ownership.owned_by_run(obj("b", owner("FerrisRun", "u1")), "u1", "a")  # other namespace
    assert not ownership.owned_by_run(obj("a", owner("FerrisRun", "u2")), "u1", "a")
    assert not ownership.owned_by_run(obj("a", {**owner("FerrisRun", "u1"), "controller": False}), "u1", "a")
    assert not ownership.owned_by_run(obj("a", owner("FerrisRun", "u1", "evil.io/v1")), "u1", "a")
    assert not ownership.owned_by_run(obj("a", labels={model.LABEL_RUN_UID: "u1"}), "u1", "a")


def test_an_ownerreference_alone_never_makes_an_object_the_runs_only_the_operators_stamp_does() -> None:
    forged = obj("a", owner("FerrisRun", "u1"), name="r-run")  # what anyone who may create Jobs can write
    assert not PROOF.is_child(forged, "Job", "u1", "a")
    made = PROOF.stamp_child(obj("a", owner("FerrisRun", "u1"), name="r-run"), "Job", "u1")
    assert PROOF.is_child(made, "Job", "u1", "a")
    assert made["metadata"]["annotations"][model.ANNOTATION_STAMP].startswith("fs1.k1.")


@pytest.mark.parametrize(
    "change",
    [
        lambda o: o["metadata"].update(name="r-other"),  # the stamp copied onto another name
        lambda o: o["metadata"].update(namespace="b"),  # ...into another namespace
        lambda o: o["metadata"].update(ownerReferences=[owner("FerrisRun", "u2")]),  # ...onto another run's
        lambda o: o["metadata"].update(ownerReferences=[]),  # no controller: garbage collection needs it
        lambda o: o["metadata"]["annotations"].update({model.ANNOTATION_STAMP: "fs1.k1." + "A" * 43}),
        lambda o: o["metadata"]["annotations"].update({model.ANNOTATION_STAMP: ""}),
        lambda o: o["metadata"]["annotations"].update({model.ANNOTATION_STAMP: "fs1.k9." + "A" * 43}),  # no such key
        lambda o: o["metadata"]["annotations"].update({model.ANNOTATION_STAMP: "x" * 100_000}),
    ],
)
def test_a_stamp_binds_kind_namespace_name_and_run(change: Any) -> None:
    made = PROOF.stamp_child(obj("a", owner("FerrisRun", "u1"), name="r-run"), "Job", "u1")
    assert not PROOF.is_child(made, "ConfigMap", "u1", "a")  # another kind under the same name
    change(made)
    ns = made["metadata"]["namespace"]
    uid = (made["metadata"]["ownerReferences"] or [{"uid": "u1"}])[0]["uid"]
    assert not PROOF.is_child(made, "Job", uid, ns)


def test_a_stamp_that_binds_content_refuses_the_same_object_with_other_content() -> None:
    made = PROOF.stamp_child(obj("a", owner("FerrisRun", "u1"), name="r-key"), "Secret", "u1", digest({"k": "1"}))
    assert PROOF.is_child(made, "Secret", "u1", "a", digest({"k": "1"}))
    assert not PROOF.is_child(made, "Secret", "u1", "a", digest({"k": "2"}))
    assert not PROOF.is_child(made, "Secret", "u1", "a")
    with pytest.raises(ForeignObject, match="no stamp of the operator's"):
        PROOF.own(made, "Secret", "u1", "a", digest({"k": "2"}))


def test_another_operators_key_makes_stamps_this_one_refuses() -> None:
    other = Provenance(RunTokens({"k1": b"\x07" * 32}, "k1"))  # same key id, another key
    made = other.stamp_child(obj("a", owner("FerrisRun", "u1"), name="r-run"), "Job", "u1")
    assert not PROOF.is_child(made, "Job", "u1", "a")
