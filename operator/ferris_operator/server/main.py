"""`ferris-server`: the user API and the console over the run history, each request made as
the user and authorised by the cluster's RBAC; and, on a port of its own, the runner API that
runner pods report to. Stateless: run several behind one Service; the operator stays the
single active controller (it takes up what runners reported through PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aiohttp import web
from kubernetes import client
from psycopg_pool import ConnectionPool

from ferris_operator import __version__
from ferris_operator.crypto.run_tokens import RunTokens
from ferris_operator.k8s.clients import api_client
from ferris_operator.k8s.errors import is_conflict, or_none
from ferris_operator.k8s.objects import Kube
from ferris_operator.k8s.reviews import Reviews
from ferris_operator.kek.factory import KeySetup
from ferris_operator.kek.health import KeyHealth
from ferris_operator.problems import KeyProviderUnavailable, MasterKeyMismatch
from ferris_operator.process.health import health_app
from ferris_operator.process.startup import configure_logging, keys_ready, run_tokens, wait_and_migrate
from ferris_operator.process.stopping import until_stopped
from ferris_operator.process.tls import serving_context
from ferris_operator.secret_scopes.policies import ScopeObjects
from ferris_operator.secret_scopes.writes import ScopeWriter
from ferris_operator.server import openapi
from ferris_operator.server.addresses import networks
from ferris_operator.server.api import HELD_PER_USER, HELD_TOTAL, ServerApi
from ferris_operator.server.authz import Authorizer
from ferris_operator.server.chains_api import ChainsApi
from ferris_operator.server.console import add_console
from ferris_operator.server.events_api import EventsApi
from ferris_operator.server.eventsource_api import EventSourceApi
from ferris_operator.server.identity import TokenCache
from ferris_operator.server.overview_api import OverviewApi
from ferris_operator.server.runner_api import RunnerApi
from ferris_operator.server.runner_auth import RunTokenAuthenticator
from ferris_operator.server.scopes_api import ScopesApi
from ferris_operator.settings import Settings
from ferris_operator.store.announcer import Announce, CoalescingAnnouncer
from ferris_operator.store.db import DATABASE_ERRORS, open_pool
from ferris_operator.store.events import EventStore
from ferris_operator.store.history import HistoryStore
from ferris_operator.store.reports import ReportStore
from ferris_operator.store.scopes import ScopeStore
from ferris_operator.store.vault import Vault
from ferris_operator.work.ratelimit import Holds

log = logging.getLogger("ferris.server")
AUTHENTICATION_CONFIGMAP = ("kube-system", "extension-apiserver-authentication")
PUBLISHED = "ferris-server"


def cluster_client_ca(api: client.ApiClient) -> str | None:
    """The CA the API server trusts for client certificates, as extension API servers read it;
    None when it is not published or not readable (then only bearer tokens get in)."""
    core = client.CoreV1Api(api)
    namespace, name = AUTHENTICATION_CONFIGMAP
    try:
        found: Any = or_none(lambda: core.read_namespaced_config_map(name, namespace, _preload_content=False))
    except client.ApiException as exc:
        log.warning("cannot read %s/%s (%s): client certificates are not accepted", namespace, name, exc.reason)
        return None
    if found is None:
        return None
    ca = (json.loads(found.data).get("data") or {}).get("client-ca-file")
    return str(ca) if ca else None


def user_api(
    settings: Settings,
    api: client.ApiClient,
    pool: ConnectionPool,
    vault: Vault,
    read_pool: ConnectionPool | None = None,
    announce: Announce | None = None,
) -> web.Application:
    """``read_pool``: where history is read (a replica; unset: ``pool``); ``announce``: how
    stored events are announced (unset: a notification each)."""
    kube = Kube(api)
    reviews = Reviews(kube)
    holds = Holds(HELD_PER_USER, HELD_TOTAL)  # followed logs and waited-for event answers, together
    history, authorizer = HistoryStore(read_pool or pool), Authorizer(reviews.access)
    server = ServerApi(
        kube,
        history,
        TokenCache(reviews.token),
        authorizer,
        vault=vault if settings.secrets_upload else None,
        params_vault=vault,  # runs' secret params, whatever the upload setting
        more_routes=[
            *EventsApi(EventStore(pool, announce), settings.watch_namespaces, holds).routes(),
            *ScopesApi(ScopeStore(pool)).routes(),
            *OverviewApi(kube, history, authorizer, settings.watch_namespaces).routes(),
            *ChainsApi(kube).routes(),
        ],
        public_url=settings.server_public_url,
        holds=holds,
    )
    app = server.app()
    try:
        proxies = networks(settings.server_trusted_proxies)
    except ValueError as exc:
        raise SystemExit(f"ferris-server: FERRIS_SERVER_TRUSTED_PROXIES: {exc}") from None
    EventSourceApi(kube, vault, EventStore(pool, announce), trusted_proxies=proxies).add_to(app)
    document = openapi.document(server.routes(), __version__)

    async def openapi_json(request: web.Request) -> web.Response:
        return web.json_response(document)

    app.router.add_get("/api/v1/openapi.json", openapi_json)
    add_console(app)
    return app


def runner_api(
    settings: Settings,
    api: client.ApiClient,
    pool: ConnectionPool,
    tokens: RunTokens,
    vault: Vault,
    announcer: CoalescingAnnouncer,
) -> web.Application:
    reports = ReportStore(pool, announcer.announce)

    def refresh() -> tuple[str, bytes] | None:
        try:
            key = vault.service_key("run-tokens", replace_unopened=False)
        except (MasterKeyMismatch, KeyProviderUnavailable, *DATABASE_ERRORS) as exc:
            log.warning("the run-token key could not be read again: %s", type(exc).__name__)
            return None
        return key.key_id, key.key

    authenticator = RunTokenAuthenticator(tokens, reports, refresh=refresh)
    writer = ScopeWriter(ScopeStore(pool), vault, ScopeObjects(Kube(api)))
    events = EventStore(pool, announcer.announce)
    return RunnerApi(authenticator, reports, vault, events, settings.max_events_per_run, secrets=writer).app()


def tls(
    directory: Path | None, variable: str, what: str, client_ca: str | None = None
) -> tuple[ssl.SSLContext | None, str]:
    """The TLS context of a listener and the CA (PEM) its clients verify it with; (None, "")
    without a certificate directory (plain HTTP, with a warning). A certificate that does not
    load stops start-up with the directory named."""
    if directory is None:
        log.warning("the %s serves plain HTTP: set %s (the chart does)", what, variable)
        return None, ""
    try:
        return serving_context(directory, client_ca)
    except (OSError, ssl.SSLError) as exc:
        raise SystemExit(f"ferris-server: {what} certificate in {directory}: {exc}") from None


def publish(api: client.ApiClient, settings: Settings, ca: str) -> None:
    """Where the server is, for the ferris CLI: ConfigMap ferris-server (URL and CA), which
    every authenticated user may read. Each replica writes the same; the last write wins."""
    if not settings.server_public_url:
        log.warning("FERRIS_SERVER_PUBLIC_URL is not set: the CLI will not find the server by itself")
        return
    core: Any = client.CoreV1Api(api)  # a plain body, as the other adapters send
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": PUBLISHED,
            "namespace": settings.namespace,
            "labels": {"app.kubernetes.io/part-of": "ferris"},
        },
        "data": {"url": settings.server_public_url, "ca.crt": ca},
    }
    try:
        core.create_namespaced_config_map(settings.namespace, body)
    except client.ApiException as exc:
        if not is_conflict(exc):
            raise
        core.replace_namespaced_config_map(PUBLISHED, settings.namespace, body)


async def serve(settings: Settings, setup: KeySetup, keys: KeyHealth) -> None:
    # Database and API calls run in threads: a pool of their own, not asyncio's few.
    executor = ThreadPoolExecutor(max_workers=settings.kopf.api_threads, thread_name_prefix="api")
    asyncio.get_running_loop().set_default_executor(executor)
    api = api_client()
    context, ca = tls(settings.server_tls_dir, "FERRIS_SERVER_TLS_DIR", "user API", cluster_client_ca(api))
    runners_tls, _ = tls(settings.runner_api_tls_dir, "FERRIS_RUNNER_API_TLS_DIR", "runner API")
    publish(api, settings, ca)
    pool = open_pool(settings.database_url, max_size=settings.db_pool_max, check=True)
    # History from a read replica when one is named (it may lag the primary by its replay delay).
    read_pool = (
        open_pool(settings.database_read_url, max_size=settings.db_pool_max) if settings.database_read_url else None
    )
    vault = Vault(pool, setup.providers)
    tokens = await asyncio.to_thread(run_tokens, vault, setup)
    announcer = CoalescingAnnouncer(pool)  # reports announced to the operator, a notification per interval
    announcer.start()
    runners = []
    for app, bind, port, site_tls in (
        (
            user_api(settings, api, pool, vault, read_pool, announcer.announce),
            settings.server_bind,
            settings.server_port,
            context,
        ),
        (
            runner_api(settings, api, pool, tokens, vault, announcer),
            settings.runner_api_bind,
            settings.runner_api_port,
            runners_tls,
        ),
        (
            health_app(lambda: None if keys.healthy else "the key provider"),
            settings.health_bind,
            settings.health_port,
            None,
        ),
    ):
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, bind, port, ssl_context=site_tls).start()
        runners.append(runner)
    log.info(
        "serving the user API on %s:%s and the runner API on %s:%s",
        settings.server_bind,
        settings.server_port,
        settings.runner_api_bind,
        settings.runner_api_port,
    )
    watching = asyncio.create_task(watch_keys(keys, settings.intervals.key_provider_status))
    try:
        await until_stopped()
    finally:
        watching.cancel()
        for runner in runners:
            with contextlib.suppress(Exception):
                await runner.cleanup()
        await asyncio.to_thread(announcer.stop)
        pool.close()
        if read_pool is not None:
            read_pool.close()


async def watch_keys(keys: KeyHealth, seconds: float) -> None:
    """The key provider's status, for readiness: a server that cannot unwrap is not ready."""
    while True:
        await asyncio.sleep(seconds)
        await asyncio.to_thread(keys.check)


def main() -> None:
    # The key providers: run tokens are checked with the run-token key they wrap, and package
    # state (and uploaded secrets) are encrypted under data keys they wrap.
    settings = Settings.from_env(program="ferris-server")
    configure_logging(settings)
    setup, keys = keys_ready(settings, "ferris-server")
    wait_and_migrate(settings, "ferris-server")  # safe beside the operator's: migrations take an advisory lock
    asyncio.run(serve(settings, setup, keys))


if __name__ == "__main__":
    main()
