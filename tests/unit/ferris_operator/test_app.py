"""kopf as the application configures it: only Ferris's Jobs and pods are watched (selected by
the API server), FerrisRuns carry no kopf annotation (their handler is an event handler), and
the first listing comes in pages."""

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
    fields = ("kube", "vault", "runs", "packages", "schedules", "events", "sources", "scopes", "scope_store")
    components: Any = SimpleNamespace(settings=settings, key_health=None, **dict.fromkeys(fields))
    return OperatorApp(components)


def resource(group: str, plural: str, kind: str, version: str = "v1") -> references.Resource:
    return references.Resource(group, version, plural, kind=kind, singular=kind.lower(), namespaced=True)


def test_only_ferris_jobs_and_pods_are_watched_and_the_first_listing_is_paged() -> None:
    settings = kopf.OperatorSettings()
    asyncio.run(app().configure_kopf(settings))
    for group, plural, kind in (("batch", "jobs", "Job"), ("", "pods", "Pod")):
        assert list(settings.watching.label_selectors.collect(resource(group, plural, kind))) == [model.LABEL_RUN_UID]
    assert list(settings.watching.label_selectors.collect(resource("", "configmaps", "ConfigMap"))) == []
    assert settings.watching.chunk_size == 500


def test_ferris_runs_have_event_handlers_only_so_kopf_writes_nothing_on_them() -> None:
    registry = app().registry
    runs = resource(model.GROUP, model.RUNS, "FerrisRun", model.VERSION)
    assert [h.id for h in registry._watching.get_all_handlers() if h.selector and h.selector.check(runs)] == [
        "run_event"
    ]
    assert not any(h.selector and h.selector.check(runs) for h in registry._changing.get_all_handlers())
