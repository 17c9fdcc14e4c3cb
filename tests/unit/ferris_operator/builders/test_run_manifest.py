"""The one FerrisRun builder."""

from __future__ import annotations


def test_the_run_manifest_names_its_package_and_carries_only_what_was_given() -> None:
    from ferris_operator.builders.run_manifest import run_manifest

    assert run_manifest("nightly", {}, None) == {
        "apiVersion": "ferris.io/v1alpha1",
        "kind": "FerrisRun",
        "metadata": {"generateName": "nightly-", "labels": {"ferris.io/package": "nightly"}},
        "spec": {"packageRef": {"name": "nightly"}},
    }
    spec = run_manifest("x" * 60, {"day": "today"}, 30)["spec"]
    assert spec == {"packageRef": {"name": "x" * 60}, "params": {"day": "today"}, "timeoutSeconds": 30}
