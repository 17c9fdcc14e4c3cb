"""`ferris-operator`: load settings and keys (failing fast), migrate the database, then run kopf
with the runner API and the health server beside it."""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf
import psycopg
from aiohttp import web

from ferris_operator import handlers, loops
from ferris_operator.crypto.keyring import KeyRingError, load_keyring
from ferris_operator.crypto.run_tokens import RunTokens
from ferris_operator.health import health_app
from ferris_operator.k8s.clients import api_client
from ferris_operator.k8s.diffbase import DigestedDiffBaseStorage
from ferris_operator.k8s.objects import Kube
from ferris_operator.k8s.sealing_keys import ensure_sealing_keys
from ferris_operator.package_service import PackageService
from ferris_operator.runner_api import RunnerApi
from ferris_operator.runs import RunService
from ferris_operator.settings import Settings
from ferris_operator.store.db import open_pool
from ferris_operator.store.migrations import migrate
from ferris_operator.store.runs import RunStore
from ferris_operator.vault import Vault

log = logging.getLogger("ferris.operator")
_servers: list[web.AppRunner] = []
_background: list[asyncio.Task[None]] = []
_ready = False


def wait_and_migrate(settings: Settings, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(settings.database_url, connect_timeout=5) as conn:
                applied = migrate(conn)
            log.info("database %s ready; migrations applied: %s", settings.database_url_redacted, applied or "none")
            return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"ferris-operator: database {settings.database_url_redacted} unreachable: {type(exc).__name__}"
                ) from None
            log.warning("database %s not reachable yet; retrying", settings.database_url_redacted)
            time.sleep(2)


def build(settings: Settings, api_ca: str | None) -> handlers.Components:
    try:
        ring = load_keyring(settings.master_key_dir)
    except KeyRingError as exc:
        raise SystemExit(f"ferris-operator: master key: {exc}") from None
    log.info("master key ring loaded: %s", ring)
    wait_and_migrate(settings)
    pool = open_pool(settings.database_url, max_size=settings.db_pool_max)
    kube = Kube(api_client())
    sealing = ensure_sealing_keys(kube.core, settings.namespace, settings.sealing_secret, settings.sealing_configmap)
    log.info("sealing keys ready: %s", sealing)
    vault = Vault(pool, ring)
    runs = RunService(kube, vault, RunStore(pool), settings, RunTokens(ring), api_ca=api_ca)
    return handlers.Components(kube, vault, runs, PackageService(kube, vault, sealing))


async def _serve(app: web.Application, host: str, port: int, tls: ssl.SSLContext | None = None) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, ssl_context=tls).start()
    _servers.append(runner)


def runner_api_tls(settings: Settings) -> tuple[ssl.SSLContext | None, str | None]:
    """The runner API's TLS context and the CA (PEM) that runners verify it with; (None, None)
    without FERRIS_RUNNER_API_TLS_DIR (plain HTTP, for a cluster that encrypts pod traffic
    itself). Missing or unreadable files stop start-up with the file named."""
    directory = settings.runner_api_tls_dir
    if directory is None:
        log.warning("the runner API serves plain HTTP: set FERRIS_RUNNER_API_TLS_DIR (the chart does)")
        return None, None
    try:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(directory / "tls.crt", directory / "tls.key")
        return context, (directory / "ca.crt").read_text()
    except (OSError, ssl.SSLError) as exc:
        raise SystemExit(f"ferris-operator: runner API certificate in {directory}: {exc}") from None


def _install_startup(settings: Settings, api_tls: ssl.SSLContext | None) -> None:
    @kopf.on.startup()
    async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="kopf.ferris.io")
        settings.persistence.diffbase_storage = DigestedDiffBaseStorage(
            prefix="kopf.ferris.io", key="last-handled-configuration"
        )
        settings.persistence.finalizer = "ferris.io/cleanup"
        settings.posting.level = logging.WARNING
        settings.watching.server_timeout = 270
        settings.watching.client_timeout = 300
        settings.networking.request_timeout = 60
        settings.execution.max_workers = 32

    @kopf.on.startup()
    async def servers(**_: Any) -> None:
        global _ready
        # The runner API's database and API calls run in threads: give them their own pool
        # instead of asyncio's default of a few threads, which a burst of runners exhausts.
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=32, thread_name_prefix="api"))
        await _serve(
            RunnerApi(handlers.c().runs).app(),
            operator_settings.runner_api_bind,
            operator_settings.runner_api_port,
            api_tls,
        )
        await _serve(health_app(lambda: _ready), operator_settings.runner_api_bind, operator_settings.health_port)
        _background.extend(asyncio.create_task(loops.every(loop)) for loop in loops.loops(operator_settings))
        _ready = True

    @kopf.on.cleanup()
    async def cleanup(**_: Any) -> None:
        for task in _background:
            task.cancel()
        for runner in _servers:
            await runner.cleanup()

    operator_settings = settings


def main() -> None:
    logging.basicConfig(
        level=getattr(logging, os.environ.get("FERRIS_LOG_LEVEL", "INFO")),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    settings = Settings.from_env()
    api_tls, api_ca = runner_api_tls(settings)  # read once: the certificate files, and the warning
    handlers.install(build(settings, api_ca))
    _install_startup(settings, api_tls)
    namespaces = list(settings.watch_namespaces)
    asyncio.run(
        kopf.operator(
            clusterwide=not namespaces,
            namespaces=namespaces,
            standalone=settings.standalone,
            # Naming a peering makes it mandatory in kopf: only when peering is asked for.
            peering_name=None if settings.standalone else settings.peering_name,
        )
    )


if __name__ == "__main__":
    main()
