"""The FerrisRun manifest: one builder for whatever starts a run (a person through the CLI or
the server, a schedule; retries and triggers next). Pure."""

from __future__ import annotations

import datetime
from typing import Any

from ferris_operator import model
from ferris_operator.bodies import ObjectMeta, RunBody, RunSpec


def run_manifest(
    package: str,
    params: dict[str, Any],
    timeout: int | None,
    trigger: str = model.TRIGGER_MANUAL,
    name: str | None = None,
    scheduled: datetime.datetime | None = None,
    start_after: datetime.datetime | None = None,
) -> RunBody:
    """A run of ``package``: named ``name``, or by the API server from the package's name."""
    spec: RunSpec = {"packageRef": {"name": package}, "trigger": trigger}
    if params:
        spec["params"] = params
    if timeout:
        spec["timeoutSeconds"] = timeout
    if scheduled is not None:
        spec["scheduledTime"] = model.timestamp(scheduled)
    if start_after is not None:
        spec["startAfter"] = model.timestamp(start_after)
    metadata: ObjectMeta = {"labels": {model.LABEL_PACKAGE: package, model.LABEL_TRIGGER: trigger}}
    if name:
        metadata["name"] = name
    else:
        metadata["generateName"] = f"{package[:40]}-"
    return {
        "apiVersion": f"{model.GROUP}/{model.VERSION}",
        "kind": "FerrisRun",
        "metadata": metadata,
        "spec": spec,
    }
