"""kopf's diff base, kept as digests."""

from __future__ import annotations

import json

import kopf

from ferris_operator.k8s.diffbase import MAX_ESSENCE, DigestedDiffBaseStorage


def test_the_diff_base_keeps_large_fields_as_digests_and_still_sees_them_change() -> None:
    storage = DigestedDiffBaseStorage(prefix="kopf.ferris.io", key="last-handled-configuration")
    body = {
        "metadata": {"name": "p", "namespace": "a", "annotations": {}},
        "spec": {"scripts": [{"name": "a.py", "content": "x" * 300_000}], "sealedSecrets": "s" * 400_000, "n": 1},
    }
    essence = storage.build(body=kopf.Body(body))
    assert len(json.dumps(essence)) < 1000
    assert essence["spec"]["n"] == 1 and essence["spec"]["scripts"][0]["name"] == "a.py"
    changed = {**body, "spec": {**body["spec"], "sealedSecrets": "t" * 400_000}}
    assert storage.build(body=kopf.Body(changed)) != essence


def test_many_short_strings_cannot_overflow_the_annotation_and_a_change_still_shows() -> None:
    """Each string under the inline limit, 600 KB together: the essence used to hold them all,
    over the 256 KiB every annotation of an object shares."""
    storage = DigestedDiffBaseStorage(prefix="kopf.ferris.io", key="last-handled-configuration")
    params = {f"key-{i:05d}": "v" * 20 for i in range(20_000)}
    body = {"metadata": {"name": "p", "namespace": "a", "labels": {"team": "x"}}, "spec": {"params": params}}
    essence = storage.build(body=kopf.Body(body))
    assert len(json.dumps(essence)) <= MAX_ESSENCE
    changed = {**body, "spec": {"params": {**params, "key-00007": "w" * 20}}}
    assert storage.build(body=kopf.Body(changed)) != essence
    assert storage.build(body=kopf.Body(json.loads(json.dumps(body)))) == essence  # the same object: no change
