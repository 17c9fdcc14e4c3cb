"""Which FerrisRun events ask the operator to act, and the newest body of each run that does.
FerrisRuns are handled on every event, with no state kept on the object (kopf's annotations
cost a write per run): the body itself says whether the run still has to start, or to stop."""

from __future__ import annotations

import threading

from ferris_operator import model
from ferris_operator.bodies import RunBody


def needs_attention(body: RunBody) -> bool:
    """A run not started yet (its status names no Job), one whose spec changed since its status
    was written, or one asked to cancel. A started run is followed through its Job, its pod and
    its runner's reports instead; a run that ended needs nothing."""
    status = body.get("status") or {}
    if status.get("phase") in model.TERMINAL:
        return False
    if (body.get("spec") or {}).get("cancel"):
        return True
    return not status.get("jobName") or status.get("observedGeneration") != body["metadata"].get("generation")


class Arrivals:
    """The newest body of each run that asked for attention and has not been taken yet. The watch
    offers every event; a worker takes a run's body when it gets to it, and gets the newest one:
    events that arrive while a run waits for a worker cost nothing more."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bodies: dict[str, RunBody] = {}

    def offer(self, body: RunBody) -> bool:
        """Keep ``body`` if it asks for attention, or if an older one of its run waits (the newer
        one replaces it, whatever it says). True when a worker should be asked to take it."""
        uid = body["metadata"]["uid"]
        attention = needs_attention(body)
        with self._lock:
            if attention or uid in self._bodies:
                self._bodies[uid] = body
        return attention

    def drop(self, uid: str) -> None:
        with self._lock:
            self._bodies.pop(uid, None)

    def take(self, uid: str) -> RunBody | None:
        """The run's newest body, if it still asks for attention."""
        with self._lock:
            body = self._bodies.pop(uid, None)
        return body if body is not None and needs_attention(body) else None

    def __len__(self) -> int:
        return len(self._bodies)
