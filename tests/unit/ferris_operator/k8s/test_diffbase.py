"""kopf's diff base, kept as digests."""

from __future__ import annotations

import json

import kopf

from ferris_operator.k8s.diffbase import DigestedDiffBaseStorage


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
