"""The FerrisRun manifest: one builder for whatever starts a run (the CLI today; schedules,
retries and triggers next). Pure."""

from __future__ import annotations

from typing import Any

from ferris_operator import model


def run_manifest(package: str, params: dict[str, Any], timeout: int | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"packageRef": {"name": package}}
    if params:
        spec["params"] = params
    if timeout:
        spec["timeoutSeconds"] = timeout
    return {
        "apiVersion": f"{model.GROUP}/{model.VERSION}",
        "kind": "FerrisRun",
        "metadata": {"generateName": f"{package[:40]}-", "labels": {model.LABEL_PACKAGE: package}},
        "spec": spec,
    }
