"""The operator as one object: its components, the kopf registry they are registered in, and
what runs beside kopf (the runner API, the health server, the periodic loops), started and
stopped with it. No module globals: a second instance (a test's) shares nothing with the first."""

from __future__ import annotations

import asyncio
import logging
import ssl
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf
from aiohttp import web

from ferris_operator import loops
from ferris_operator.handlers import Components, Handlers
from ferris_operator.health import health_app
from ferris_operator.k8s.diffbase import DigestedDiffBaseStorage
from ferris_operator.runner_api import RunnerApi

log = logging.getLogger("ferris.operator")
PREFIX = "kopf.ferris.io"


class OperatorApp:
    def __init__(self, components: Components, api_tls: ssl.SSLContext | None) -> None:
        self.components = components
        self.settings = components.settings
        self.api_tls = api_tls
        self.handlers = Handlers(components)
        self.registry = kopf.OperatorRegistry()
        self.ready = False
        self._servers: list[web.AppRunner] = []
        self._background: list[asyncio.Task[None]] = []
        self.handlers.register(self.registry)
        # kopf's own registry logs in through the Kubernetes client; ours has to ask for it.
        kopf.on.login(registry=self.registry, id="login_via_client")(kopf.login_via_client)
        kopf.on.startup(registry=self.registry, id="configure_kopf")(self.configure_kopf)
        kopf.on.startup(registry=self.registry, id="start_servers")(self.start_servers)
        kopf.on.cleanup(registry=self.registry, id="stop_servers")(self.stop_servers)

    async def configure_kopf(self, settings: kopf.OperatorSettings, **_: Any) -> None:
        tuning = self.settings.kopf
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
        settings.persistence.diffbase_storage = DigestedDiffBaseStorage(prefix=PREFIX, key="last-handled-configuration")
        settings.persistence.finalizer = "ferris.io/cleanup"
        settings.posting.level = logging.WARNING
        settings.watching.server_timeout = tuning.watch_server_timeout
        settings.watching.client_timeout = tuning.watch_client_timeout
        settings.networking.request_timeout = tuning.request_timeout
        settings.execution.max_workers = tuning.max_workers

    async def start_servers(self, **_: Any) -> None:
        # The runner API's database and API calls run in threads: give them their own pool
        # instead of asyncio's default of a few threads, which a burst of runners exhausts.
        executor = ThreadPoolExecutor(max_workers=self.settings.kopf.api_threads, thread_name_prefix="api")
        asyncio.get_running_loop().set_default_executor(executor)
        bind = self.settings.runner_api_bind
        await self._serve(RunnerApi(self.components.runs).app(), bind, self.settings.runner_api_port, self.api_tls)
        await self._serve(health_app(lambda: self.ready), bind, self.settings.health_port)
        for loop in loops.loops(self.handlers, self.settings.intervals):
            self._background.append(asyncio.create_task(loops.every(loop)))
        self.ready = True

    async def stop_servers(self, **_: Any) -> None:
        self.ready = False
        for task in self._background:
            task.cancel()
        for runner in self._servers:
            await runner.cleanup()

    async def _serve(self, app: web.Application, host: str, port: int, tls: ssl.SSLContext | None = None) -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port, ssl_context=tls).start()
        self._servers.append(runner)

    async def run(self) -> None:
        namespaces = list(self.settings.watch_namespaces)
        await kopf.operator(
            registry=self.registry,
            clusterwide=not namespaces,
            namespaces=namespaces,
            standalone=self.settings.standalone,
            # Naming a peering makes it mandatory in kopf: only when peering is asked for.
            peering_name=None if self.settings.standalone else self.settings.peering_name,
        )
