"""Which FerrisRun events ask the operator to act. FerrisRuns are handled on every event, with
no state kept on the object (kopf's annotations cost a write per run): the body itself says
whether the run still has to start, or to stop."""

from __future__ import annotations

from typing import Any

from ferris_operator import model


def needs_attention(body: dict[str, Any]) -> bool:
    """A run not started yet (its status names no Job), one whose spec changed since its status
    was written, or one asked to cancel. A started run is followed through its Job, its pod and
    its runner's reports instead; a run that ended needs nothing."""
    status = body.get("status") or {}
    if status.get("phase") in model.TERMINAL:
        return False
    if (body.get("spec") or {}).get("cancel"):
        return True
    return not status.get("jobName") or status.get("observedGeneration") != body["metadata"].get("generation")
