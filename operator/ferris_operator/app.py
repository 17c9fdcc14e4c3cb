"""The operator as one object: its components, the kopf registry they are registered in, and
what runs beside kopf (the runners' reports as the server announces them, the health server,
the periodic loops), started and stopped with it. No module globals: a second instance (a
test's) shares nothing with the first."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import kopf
from aiohttp import web

from ferris_operator import model
from ferris_operator.bodies import run_body
from ferris_operator.handlers import Components, Rooms
from ferris_operator.k8s.diffbase import DigestedDiffBaseStorage
from ferris_operator.k8s.watch import Watch
from ferris_operator.process.health import health_app
from ferris_operator.process.peering import Peering
from ferris_operator.store.announcer import items_of
from ferris_operator.work import loops
from ferris_operator.work.queue import Coalescer

log = logging.getLogger("ferris.operator")
PREFIX = "kopf.ferris.io"


class Listener(Protocol):
    problem: str | None  # why it does not hear notifications (None: it does)

    def start(self) -> None: ...
    def stop(self) -> None: ...


# Given what to call for a run's report heard of, for an event, and after each (re)connection:
# a listener to start.
ListenerFactory = Callable[[Callable[[str], object], Callable[[str], object], Callable[[], object]], Listener]


class OperatorApp:
    def __init__(self, components: Components, listener: ListenerFactory | None = None) -> None:
        self.components = components
        self.settings = components.settings
        self.listener_factory = listener
        self.rooms = Rooms(components)
        watched = self.settings.watch_namespaces
        self.peering = Peering(
            self.settings.standalone,
            self.settings.peering_name,
            lambda name: components.kube.peering(name, watched[0] if watched else ""),
            self.settings.kopf.peering_lifetime,
        )
        self.reports = Coalescer(self.rooms.runs.on_report, components.settings.kopf.report_workers)
        self.arrived_runs = Coalescer(self.rooms.runs.attend, components.settings.kopf.run_workers)
        # One routing pass at a time; events stored during a pass get another one after it.
        self.events = Coalescer(
            lambda _: loops.run_once("events announced", self.rooms.triggers.router.route_pending), 1
        )
        self._listener: Listener | None = None
        self._watches: list[Watch] = []
        self.registry = kopf.OperatorRegistry()
        self.ready = False
        self._servers: list[web.AppRunner] = []
        self._background: list[asyncio.Task[None]] = []
        self._catching_up: asyncio.Task[None] | None = None
        self._catch_up_again = False
        self.rooms.register(self.registry)
        # kopf's own registry logs in through the Kubernetes client; ours has to ask for it.
        kopf.on.login(registry=self.registry, id="login_via_client")(kopf.login_via_client)
        kopf.on.startup(registry=self.registry, id="configure_kopf")(self.configure_kopf)
        kopf.on.startup(registry=self.registry, id="start_servers")(self.start_servers)
        kopf.on.cleanup(registry=self.registry, id="stop_servers")(self.stop_servers)

    def not_ready(self) -> str | None:
        """Why the operator is not ready (None: it is): starting, the key provider, or a LISTEN
        connection that does not hear (the listener's own words)."""
        if not self.ready:
            return "starting"
        if not self.components.key_health.healthy:
            return "the key provider"
        if self._listener is not None and self._listener.problem is not None:
            return self._listener.problem
        return None

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
        settings.watching.chunk_size = tuning.list_chunk
        settings.peering.priority = self.peering.priority  # random: equal ones would pause every replica
        settings.peering.lifetime = self.peering.lifetime

    async def start_servers(self, **_: Any) -> None:
        # Reports and loops make database and API calls in threads: give them a pool of their
        # own instead of asyncio's default of a few threads, which a burst of reports exhausts.
        executor = ThreadPoolExecutor(max_workers=self.settings.kopf.api_threads, thread_name_prefix="api")
        loop = asyncio.get_running_loop()
        loop.set_default_executor(executor)
        keys = self.components.key_health
        await self._serve(health_app(self.not_ready), self.settings.health_bind, self.settings.health_port)
        self._background.append(asyncio.create_task(self.reports.run()))
        self._background.append(asyncio.create_task(self.arrived_runs.run()))
        self._background.append(asyncio.create_task(self.events.run()))

        def active() -> bool:  # a standby replica leaves the work to the active one
            return self.peering.active

        if self.listener_factory is not None:
            self._listener = self.listener_factory(
                lambda text: active() and loop.call_soon_threadsafe(self._announced, text),
                lambda _: active() and loop.call_soon_threadsafe(self.events.add, "events"),
                lambda: active() and loop.call_soon_threadsafe(self._catch_up),
            )
            self._listener.start()
        self._watches = self._run_watches(active, lambda uid: loop.call_soon_threadsafe(self.arrived_runs.add, uid))
        for watch in self._watches:
            watch.start()

        def became_active() -> None:  # a standby that becomes active takes up what the other one left
            loop.call_soon_threadsafe(self._catch_up)
            for watch in self._watches:
                watch.relist()

        self.peering.on_active = became_active
        for periodic in self.rooms.loops(keys, self.peering):
            self._background.append(asyncio.create_task(loops.every(periodic, active)))
        self.ready = True

    def _run_watches(self, active: Callable[[], bool], arrived: Callable[[str], object]) -> list[Watch]:
        """FerrisRuns, and their Jobs and pods, watched without kopf (k8s/watch.py); the Jobs and
        pods label-selected by the API server: a cluster's other pods and Jobs never reach the
        operator. The label is a filter, never proof: the handlers check each object's
        ownerReferences. A run that asks for attention goes to a worker (``arrived``)."""
        kube, handlers = self.components.kube, self.rooms.runs

        def run_event(type: str | None, run: dict[str, Any]) -> None:
            if handlers.run_event(type, run_body(run), active()):
                arrived(run["metadata"]["uid"])

        watches = []
        for namespace in self.settings.watch_namespaces or (None,):
            jobs, pods = kube.job_lister(namespace), kube.pod_lister(namespace)
            suffix = f" in {namespace}" if namespace else ""
            watches += [
                Watch(f"FerrisRuns{suffix}", kube.run_lister(namespace), None, run_event),
                Watch(f"Jobs{suffix}", jobs, model.LABEL_RUN_UID, lambda t, o: handlers.job_event(t, o, active())),
                # Only a pod that has not started can be one that cannot start (runs/follow.py):
                # the events of its running and ending pass the operator by.
                Watch(
                    f"pods{suffix}",
                    pods,
                    model.LABEL_RUN_UID,
                    lambda t, o: handlers.pod_event(t, o, active()),
                    field_selector="status.phase=Pending",
                ),
            ]
        return watches

    def _announced(self, text: str) -> None:
        """The runs a notification names as having new reports (several: the server announces
        what gathered in a few milliseconds at once); everything: a catch-up pass."""
        uids = items_of(text)
        if uids is None:
            self._catch_up()
            return
        for uid in uids:
            self.reports.add(uid)

    def _catch_up(self) -> None:
        """After (re)connecting: the reports and events stored while nobody listened. One pass
        at a time; asked for during a pass, another follows it (the pass may have read before
        the gap)."""
        self.events.add("events")
        self._catch_up_again = True
        if self._catching_up is None or self._catching_up.done():
            self._catching_up = asyncio.create_task(self._catch_up_passes())

    async def _catch_up_passes(self) -> None:
        while self._catch_up_again:
            self._catch_up_again = False
            await asyncio.to_thread(self.rooms.runs.catch_up_reports)

    async def stop_servers(self, **_: Any) -> None:
        self.ready = False
        if self._listener is not None:
            await asyncio.to_thread(self._listener.stop)
        for watch in self._watches:
            await asyncio.to_thread(watch.stop)
        for task in self._background:
            task.cancel()
        for runner in self._servers:
            await runner.cleanup()

    async def _serve(self, app: web.Application, host: str, port: int) -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
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
            identity=self.peering.identity,  # type: ignore[arg-type]  # kopf's Identity is a str
            priority=self.peering.priority,
        )
