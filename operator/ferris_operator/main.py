"""`ferris-operator`: load settings and keys (failing fast), migrate the database, build the
components, then run the operator (app.py: kopf with the runners' reports, the health server
and the periodic loops beside it)."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from pathlib import Path

from ferris_operator.app import OperatorApp
from ferris_operator.handlers import Components
from ferris_operator.k8s.clients import api_client
from ferris_operator.k8s.objects import Kube
from ferris_operator.k8s.sealing_keys import ensure_sealing_keys
from ferris_operator.packages.service import PackageService
from ferris_operator.process.startup import configure_logging, keys_ready, run_tokens, wait_and_migrate
from ferris_operator.runs import RunService
from ferris_operator.runs.retention import HistoryRetention
from ferris_operator.schedules.service import Scheduler
from ferris_operator.secret_scopes.policies import ScopeObjects
from ferris_operator.secret_scopes.reading import ScopeReader
from ferris_operator.secret_scopes.service import ScopeSecretsService
from ferris_operator.settings import Settings
from ferris_operator.store import events, reports
from ferris_operator.store.db import open_pool
from ferris_operator.store.events import EventStore
from ferris_operator.store.joins import JoinStore
from ferris_operator.store.key_rotation import kek_ids_in_use, unreadable_keys
from ferris_operator.store.notifications import Listener
from ferris_operator.store.retention import RetentionStore
from ferris_operator.store.runs import RunStore
from ferris_operator.store.scopes import ScopeStore
from ferris_operator.store.vault import Vault
from ferris_operator.triggers.router import EventRouter
from ferris_operator.triggers.sources import EventSourceService

log = logging.getLogger("ferris.operator")


def build(settings: Settings, api_ca: str | None) -> Components:
    setup, health = keys_ready(settings, "ferris-operator")
    wait_and_migrate(settings)
    pool = open_pool(settings.database_url, max_size=settings.db_pool_max)
    unreadable = unreadable_keys(kek_ids_in_use(pool), setup.providers.names, setup.ring)
    if unreadable:  # the same ids with other bytes show per package (MasterKeyMismatch), not here
        log.error(
            "data keys in the database are wrapped by %s, which the configured key providers do not hold: "
            "their packages report MasterKeyMismatch and their runs do not start until that key is configured",
            ", ".join(unreadable),
        )
    kube = Kube(api_client())
    sealing = ensure_sealing_keys(kube, settings.namespace, settings.sealing_secret, settings.sealing_configmap)
    log.info("sealing keys ready: %s", sealing)
    vault = Vault(pool, setup.providers)
    store = RunStore(pool)
    scopes = ScopeStore(pool)
    reader = ScopeReader(scopes, vault, kube.namespace_labels, ScopeObjects(kube))
    runs = RunService(kube, vault, store, settings, run_tokens(vault, setup), api_ca=api_ca, scopes=reader)
    router = EventRouter(kube, EventStore(pool), store, settings.max_chain_depth, runs.proof, joins=JoinStore(pool))
    packages = PackageService(kube, vault, sealing)
    sources = EventSourceService(kube, vault)
    service = ScopeSecretsService(kube, vault, sealing, scopes, settings.namespace)
    schedules = Scheduler(kube, store, runs.proof)
    retention = HistoryRetention(RetentionStore(pool), settings.history_retention_days, settings.history_output_bytes)
    return Components(
        settings, kube, vault, runs, packages, schedules, router, sources, service, scopes, health, retention
    )


def runner_api_ca(settings: Settings) -> str | None:
    """The CA (PEM) that runners verify the runner API with, sealed into each run document;
    None: they use the system's CAs over https://, nothing over http://. A file that cannot be
    read, or is not a certificate, stops start-up with the file named."""
    path: Path | None = settings.runner_api_ca_file
    if settings.runner_api_url.startswith("http://"):
        log.warning("runners report over plain HTTP (%s): the chart serves TLS", settings.runner_api_url)
        return None
    if path is None:
        return None
    try:
        pem = path.read_text()
        ssl.create_default_context(cadata=pem)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise SystemExit(f"ferris-operator: runner API CA {path}: {exc}") from None
    return pem


def main() -> None:
    settings = Settings.from_env()
    configure_logging(settings)
    components = build(settings, runner_api_ca(settings))

    def listener(
        report: Callable[[str], object], event: Callable[[str], object], connected: Callable[[], object]
    ) -> Listener:
        channels = {reports.CHANNEL: report, events.CHANNEL: event}
        return Listener(settings.listen_url, channels, connected, notify_url=settings.database_url)

    asyncio.run(OperatorApp(components, listener).run())


if __name__ == "__main__":
    main()
