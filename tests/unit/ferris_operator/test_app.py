"""kopf as the application configures it: FerrisRuns and their Jobs and pods are not kopf's to
watch (the application watches them itself, the Jobs and pods label-selected: k8s/watch.py), so
FerrisRuns carry no kopf annotation, and the first listing comes in pages."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import kopf
from kopf._cogs.structs import references

from ferris_operator import model
from ferris_operator.app import OperatorApp
from ferris_operator.settings import Settings


def app() -> OperatorApp:
    settings = Settings(database_url="postgresql://x", master_key_dir=Path("."))
    fields = (
        "kube",
        "vault",
        "runs",
        "packages",
        "schedules",
        "events",
        "sources",
        "scopes",
        "scope_store",
        "retention",
    )
    components: Any = SimpleNamespace(settings=settings, key_health=None, **dict.fromkeys(fields))
    return OperatorApp(components)


def resource(group: str, plural: str, kind: str, version: str = "v1") -> references.Resource:
    return references.Resource(group, version, plural, kind=kind, singular=kind.lower(), namespaced=True)


def test_kopf_lists_in_pages_and_watches_no_job_or_pod() -> None:
    operator = app()
    settings = kopf.OperatorSettings()
    asyncio.run(operator.configure_kopf(settings))
    assert settings.watching.chunk_size == 500
    for group, plural, kind in (("batch", "jobs", "Job"), ("", "pods", "Pod")):
        watched = resource(group, plural, kind)
        assert not any(h.selector and h.selector.check(watched) for h in operator.registry._watching.get_all_handlers())


def test_ferris_runs_are_not_kopfs_so_kopf_writes_nothing_on_them() -> None:
    registry = app().registry
    runs = resource(model.GROUP, model.RUNS, "FerrisRun", model.VERSION)
    for handlers in (registry._indexing, registry._watching, registry._spawning, registry._changing):
        assert not any(h.selector and h.selector.check(runs) for h in handlers.get_all_handlers())


def test_readiness_says_why_not_starting_the_key_provider_or_a_listener_that_does_not_hear() -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from ferris_operator.process.health import health_app

    operator = app()
    operator.components.key_health = SimpleNamespace(healthy=True)
    assert operator.not_ready() == "starting"
    operator.ready = True
    assert operator.not_ready() is None
    deaf = SimpleNamespace(problem="is it a transaction-mode pooler?")
    operator._listener = deaf  # type: ignore[assignment]
    assert operator.not_ready() == "is it a transaction-mode pooler?"

    async def readyz() -> tuple[int, str]:
        async with TestClient(TestServer(health_app(operator.not_ready))) as client:
            response = await client.get("/readyz")
            return response.status, await response.text()

    assert asyncio.run(readyz()) == (503, "not ready: is it a transaction-mode pooler?")
    deaf.problem = None
    assert asyncio.run(readyz()) == (200, "ready")
    operator.components.key_health = SimpleNamespace(healthy=False)
    assert asyncio.run(readyz()) == (503, "not ready: the key provider")
