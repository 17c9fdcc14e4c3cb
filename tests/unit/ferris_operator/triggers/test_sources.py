"""Event source reconcile in the fake world: the key is taken only from a Secret of type
ferris.io/event-source-key, at least 16 bytes, stored in the vault under the event source's uid
and the Secret then deleted (unless keepSource); each problem names the field and the fix."""

from __future__ import annotations

import base64
from typing import Any

from ferris_operator import reasons
from ferris_operator.bodies import EventSourceBody, event_source_body
from ferris_operator.triggers.sources import KEY_SECRET_TYPE, VAULT_KEY, EventSourceService
from tests.unit.world import World


def with_secret(value: bytes | None, kind: str = KEY_SECRET_TYPE) -> World:
    world = World()
    if value is not None:
        meta = {"namespace": "team", "name": "hook-key", "uid": "secret-uid", "resourceVersion": "7"}
        world.kube.put("Secret", {"metadata": meta, "type": kind, "data": {"key": base64.b64encode(value).decode()}})
    return world


def source(**ref: Any) -> EventSourceBody:
    meta = {"namespace": "team", "name": "hook", "uid": "source-uid", "generation": 1}
    return event_source_body({"metadata": meta, "spec": {"secretRef": {"name": "hook-key", **ref}}})


def reconcile(world: World, body: EventSourceBody) -> tuple[dict[str, Any], Any]:
    return EventSourceService(world.kube, world.vault).reconcile(body)


def test_the_key_is_stored_under_the_event_sources_uid_and_its_secret_deleted() -> None:
    world = with_secret(b"k" * 32)
    status, problem = reconcile(world, source())
    assert problem is None
    assert world.vault.versions["source-uid"] == {1: {VAULT_KEY: base64.b64encode(b"k" * 32).decode()}}
    assert world.vault.names["source-uid"] == "eventsource/hook"
    assert world.kube.deleted == [("Secret", "team", "hook-key", "secret-uid")]
    assert status["path"] == "/api/v1/namespaces/team/eventsources/hook/events"
    assert status["key"]["version"] == 1 and status["conditions"][0]["reason"] == reasons.KEY_STORED
    kept = with_secret(b"k" * 32)
    reconcile(kept, source(keepSource=True))
    assert kept.kube.deleted == [] and kept.kube.read("Secret", "team", "hook-key") is not None


def test_a_secret_of_another_type_or_a_short_key_is_refused_and_nothing_stored() -> None:
    for world, reason in (
        (with_secret(b"k" * 32, "Opaque"), reasons.KEY_SECRET_NOT_MARKED),
        (with_secret(b"short"), reasons.INVALID_KEY),
        (with_secret(None), reasons.KEY_SECRET_NOT_FOUND),
    ):
        status, problem = reconcile(world, source())
        assert problem is not None and problem.reason == reason and "spec.secretRef" in problem.message
        assert status["conditions"][0]["status"] == "False"
        assert world.vault.ingested == [] and world.kube.deleted == []
