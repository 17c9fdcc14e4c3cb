"""What both processes do before their work, the same way: logging set up, the key providers
loaded and healthy, the database migrated, the run-token key read. Each entry point
(``main.py``, ``server/main.py``) then wires its own components; neither imports the other."""

from __future__ import annotations

import logging
import sys
import time

import psycopg

from ferris_operator.crypto.keyring import KeyRingError
from ferris_operator.crypto.run_tokens import RunTokens
from ferris_operator.kek.factory import KeySetup, key_setup
from ferris_operator.kek.health import KeyHealth
from ferris_operator.problems import KeyProviderUnavailable
from ferris_operator.settings import Settings
from ferris_operator.store.migrations import migrate
from ferris_operator.store.vault import Vault

log = logging.getLogger("ferris.startup")


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=getattr(logging, settings.log_level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def wait_and_migrate(settings: Settings, program: str = "ferris-operator", timeout: float = 300) -> None:
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
                    f"{program}: database {settings.database_url_redacted} unreachable: {type(exc).__name__}"
                ) from None
            log.warning("database %s not reachable yet; retrying", settings.database_url_redacted)
            time.sleep(2)


def keys_ready(settings: Settings, program: str) -> tuple[KeySetup, KeyHealth]:
    """The key providers, loaded and healthy (waited for: a KMS plugin sidecar may start after
    this container); a ring that does not load or a provider that stays down stops start-up."""
    try:
        setup = key_setup(settings.keys, settings.master_key_dir)
    except KeyRingError as exc:
        raise SystemExit(f"{program}: master key: {exc}") from None
    log.info("key providers: %r", setup.providers)
    health = KeyHealth(setup.providers)
    try:
        health.wait(timeout=300)
    except KeyProviderUnavailable as exc:
        raise SystemExit(f"{program}: key provider {setup.providers.current.name}: {exc}") from None
    return setup, health


def run_tokens(vault: Vault, setup: KeySetup) -> RunTokens:
    key = vault.service_key("run-tokens")
    return RunTokens.of(key.key_id, key.key, setup.ring)
