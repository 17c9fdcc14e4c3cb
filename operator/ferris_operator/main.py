"""`ferris-operator`: load settings and keys (failing fast), migrate the database, build the
components, then run the operator (app.py: kopf with the runner API, the health server and the
periodic loops beside it)."""

from __future__ import annotations

import asyncio
import logging
import ssl
import sys
import time

import psycopg

from ferris_operator.app import OperatorApp
from ferris_operator.crypto.keyring import KeyRingError, load_keyring
from ferris_operator.crypto.run_tokens import RunTokens
from ferris_operator.handlers import Components
from ferris_operator.k8s.clients import api_client
from ferris_operator.k8s.objects import Kube
from ferris_operator.k8s.sealing_keys import ensure_sealing_keys
from ferris_operator.package_service import PackageService
from ferris_operator.runs import RunService
from ferris_operator.settings import Settings
from ferris_operator.store.db import open_pool
from ferris_operator.store.migrations import migrate
from ferris_operator.store.runs import RunStore
from ferris_operator.tls import serving_context
from ferris_operator.vault import Vault

log = logging.getLogger("ferris.operator")


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


def build(settings: Settings, api_ca: str | None) -> Components:
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
    return Components(settings, kube, vault, runs, PackageService(kube, vault, sealing))


def runner_api_tls(settings: Settings) -> tuple[ssl.SSLContext | None, str | None]:
    """The runner API's TLS context and the CA (PEM) that runners verify it with; (None, None)
    without FERRIS_RUNNER_API_TLS_DIR (plain HTTP, for a cluster that encrypts pod traffic
    itself). Missing or unreadable files stop start-up with the file named."""
    directory = settings.runner_api_tls_dir
    if directory is None:
        log.warning("the runner API serves plain HTTP: set FERRIS_RUNNER_API_TLS_DIR (the chart does)")
        return None, None
    try:
        return serving_context(directory)
    except (OSError, ssl.SSLError) as exc:
        raise SystemExit(f"ferris-operator: runner API certificate in {directory}: {exc}") from None


def main() -> None:
    settings = Settings.from_env()
    logging.basicConfig(
        level=getattr(logging, settings.log_level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    api_tls, api_ca = runner_api_tls(settings)  # read once: the certificate files, and the warning
    asyncio.run(OperatorApp(build(settings, api_ca), api_tls).run())


if __name__ == "__main__":
    main()
