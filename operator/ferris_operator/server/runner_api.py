"""The runner API, served by the Ferris server on a port of its own: runner pods report steps
and their verdict, and read or write package state here.

Every request carries the run's token (``Authorization: Bearer``), checked by
``RunTokenAuthenticator`` (server/runner_auth.py). Bodies are bounded per route and validated
field by field (``runner_reports``); a refused body is a 400 that names the field. Reports are
stored and announced to the operator (``ReportPort``), which publishes the run's status and
finishes it: the server writes nothing to Kubernetes for a runner.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from ferris_ciphertext.format import CiphertextError
from ferris_operator import model, runner_reports
from ferris_operator.ports import EventStorePort, ReportPort, VaultPort
from ferris_operator.problems import (
    ChunkRefused,
    KeyProviderUnavailable,
    MasterKeyMismatch,
    OutputRefused,
    ReportBudgetSpent,
    RetryLimit,
    StateQuotaExceeded,
)
from ferris_operator.process import metrics
from ferris_operator.records import Event, RunRecord
from ferris_operator.runner_reports import ReportError
from ferris_operator.schedules.cron import CronError, next_after
from ferris_operator.schedules.cron import parse as parse_cron
from ferris_operator.secret_scopes.writes import ScopeWriter
from ferris_operator.server.runner_auth import RunTokenAuthenticator, Unauthorised
from ferris_operator.store.db import DATABASE_ERRORS
from ferris_operator.triggers import cloudevents
from ferris_operator.triggers.cloudevents import EventError
from ferris_wire import runner_api as wire

log = logging.getLogger("ferris.runner-api")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


RUN = web.RequestKey("run", RunRecord)  # the run the request's token is for, set by _authenticated


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _package_of(record: RunRecord) -> str:
    if not record.package_uid:
        raise web.HTTPConflict(text=json.dumps({"error": "the run has no package"}), content_type="application/json")
    return record.package_uid


async def _body(request: web.Request, limit: int, max_containers: int) -> Any:
    if request.content_length is not None and request.content_length > limit:
        raise ReportError(f"body is {request.content_length} bytes, over the limit of {limit}")
    raw = await request.read()
    # Off the event loop: counting and parsing a 4 MiB report takes tens of milliseconds.
    return await asyncio.to_thread(runner_reports.decode, raw, limit, max_containers)


class RunnerApi:
    def __init__(
        self,
        authenticator: RunTokenAuthenticator,
        reports: ReportPort,
        vault: VaultPort,
        events: EventStorePort,
        max_events_per_run: int = 100,
        secrets: ScopeWriter | None = None,
    ) -> None:
        self.authenticator = authenticator
        self.reports = reports
        self.vault = vault
        self.events = events
        self.max_events_per_run = max_events_per_run
        self.secrets = secrets  # context.secrets.set (None: refused, 501)

    def app(self) -> web.Application:
        app = web.Application(
            client_max_size=wire.MAX_STEP_BODY,
            middlewares=[self._refusals, self._database_errors, self._authenticated],
        )
        app.add_routes(
            [
                web.post(wire.RUN_PREFIX + wire.STEP, self.step),
                web.post(wire.RUN_PREFIX + wire.CHUNK, self.chunk),
                web.post(wire.RUN_PREFIX + wire.FINISH, self.finish),
                web.get(wire.RUN_PREFIX + wire.STATE, self.state_get),
                web.put(wire.RUN_PREFIX + wire.STATE_KEY, self.state_put),
                web.post(wire.RUN_PREFIX + wire.RETRIES, self.retry),
                web.post(wire.RUN_PREFIX + wire.EVENTS, self.send_event),
                web.put(wire.RUN_PREFIX + wire.SCOPE_WRITE, self.set_secret),
                web.put(wire.RUN_PREFIX + wire.OUTPUT, self.set_output),
                web.get(wire.RUN_PREFIX + wire.PARAM_FILE, self.param_file),
            ]
        )
        return app

    @web.middleware
    async def _refusals(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ReportError as exc:
            metrics.RUNNER_API_REFUSED.labels("invalid").inc()
            return _error(400, str(exc))
        except web.HTTPRequestEntityTooLarge:
            metrics.RUNNER_API_REFUSED.labels("too-large").inc()
            return _error(413, f"body over the limit of {wire.MAX_STEP_BODY} bytes")
        except CiphertextError as exc:  # stored state that does not open: fail closed, say why
            log.warning("package state does not decrypt: %s", type(exc).__name__)
            return _error(500, f"stored package state does not decrypt ({type(exc).__name__}); it was altered")

    @web.middleware
    async def _database_errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except DATABASE_ERRORS:
            metrics.DATABASE_ERRORS.inc()
            return _error(503, "database unavailable; retry later")
        except KeyProviderUnavailable:
            metrics.KEY_PROVIDER_ERRORS.inc()
            return _error(503, "key provider unavailable; retry later")
        except MasterKeyMismatch:
            return _error(500, "the package's data key does not open with the operator's key provider")

    @web.middleware
    async def _authenticated(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The one authentication point: every route names a run, and is entered only with that
        run's live token; what matches no route (404, 405) needs none."""
        uid = request.match_info.get("uid")
        if uid is None:
            return await handler(request)
        try:
            request[RUN] = await self.authenticator.run_of(
                uid, request.headers.get("Authorization", ""), request.remote or "unknown"
            )
        except Unauthorised as refused:
            return _error(refused.status, str(refused))
        return await handler(request)

    async def step(self, request: web.Request) -> web.Response:
        record = request[RUN]
        idx = runner_reports.step_index(request.match_info["idx"])
        report = runner_reports.parse_step(
            await _body(request, wire.MAX_STEP_BODY, runner_reports.MAX_REPORT_CONTAINERS)
        )
        try:
            stored = await asyncio.to_thread(
                self.reports.step,
                record.uid,
                idx,
                report.phase,
                report.exit_code,
                report.started_at,
                report.finished_at,
                report.output,
                report.phase == model.STEP_RUNNING,
            )
        except ReportBudgetSpent as exc:
            return _error(429, str(exc))
        if not stored:
            raise ReportError(f"step index {idx} is not one of this run's steps")
        return web.json_response({"ok": True})

    async def chunk(self, request: web.Request) -> web.Response:
        """A running step's next lines, appended for followers to read as they come."""
        record = request[RUN]
        idx = runner_reports.step_index(request.match_info["idx"])
        offset, text = runner_reports.parse_chunk(await _body(request, wire.MAX_CHUNK_BODY, 4))
        try:
            stored = await asyncio.to_thread(self.reports.append_output, record.uid, idx, offset, text)
        except ChunkRefused as refused:
            return web.json_response({"error": str(refused), "stored": refused.stored}, status=refused.status)
        return web.json_response({"stored": stored})

    async def finish(self, request: web.Request) -> web.Response:
        record = request[RUN]
        succeeded, message = runner_reports.parse_finish(
            await _body(request, wire.MAX_FINISH_BODY, runner_reports.MAX_REPORT_CONTAINERS)
        )
        await asyncio.to_thread(self.reports.finished, record.uid, succeeded, message)
        return web.json_response({"ok": True})

    async def retry(self, request: web.Request) -> web.Response:
        """``context.scheduler.retry``: a later run of this run's package, with the given params."""
        record = request[RUN]
        ask = runner_reports.parse_retry(await _body(request, wire.MAX_RETRY_BODY, runner_reports.MAX_STATE_CONTAINERS))
        now = model.utcnow()
        if ask.cron is not None:
            try:
                start_after = next_after(parse_cron(ask.cron), ZoneInfo("UTC"), now)
            except CronError as exc:
                raise ReportError(f"cron: {exc}") from None
            if start_after is None or start_after - now > runner_reports.MAX_RETRY_DELAY:
                raise ReportError("cron names no time within 366 days")
        else:
            assert ask.after is not None
            start_after = now + ask.after
        try:
            name = await asyncio.to_thread(self.reports.request_retry, record, start_after, ask.params)
        except RetryLimit as exc:
            return _error(409, str(exc))
        return web.json_response({"id": name, "startAfter": model.timestamp(start_after)})

    async def send_event(self, request: web.Request) -> web.Response:
        """``context.events.send``: an event in the run's namespace at the run's own depth in its
        chain (the runs it starts are one deeper), stored once per id the runner made for the call."""
        record = request[RUN]
        body = await _body(request, cloudevents.MAX_BODY + 4096, cloudevents.MAX_CONTAINERS)
        try:
            incoming = cloudevents.sent_by_script(
                body, model.run_event_source(record.namespace, record.name), record.uid
            )
        except EventError as exc:
            raise ReportError(str(exc)) from None
        sender = f"run/{record.uid}"
        if await asyncio.to_thread(self.events.sent_by_count, sender) >= self.max_events_per_run:
            return _error(429, f"a run may send at most {self.max_events_per_run} events (FERRIS_MAX_EVENTS_PER_RUN)")
        event = Event(
            incoming.id,
            incoming.type,
            incoming.source,
            record.namespace,
            incoming.subject,
            incoming.data,
            record.depth,
        )
        seq, duplicate = await asyncio.to_thread(self.events.put, event, sender)
        return web.json_response({"id": incoming.id, "seq": seq, "duplicate": duplicate})

    async def set_secret(self, request: web.Request) -> web.Response:
        """``context.secrets.set``: into the project's or a platform scope whose writers name the
        run's package; the answer's status and text are what the script gets back."""
        record = request[RUN]
        value, context = runner_reports.parse_secret_put(
            request.match_info["name"],
            await _body(request, wire.MAX_SECRET_BODY, runner_reports.MAX_STATE_CONTAINERS),
        )
        if self.secrets is None:
            return _error(501, "this server does not take secret writes")
        answer = await asyncio.to_thread(self.secrets.write, record, request.match_info["name"], value, context)
        if answer.status != 200:
            return _error(answer.status, answer.text)
        return web.json_response({"status": 200, "text": answer.text, "version": answer.version})

    async def set_output(self, request: web.Request) -> web.Response:
        """``context.outputs.set``: one of the run's outputs, kept with it (the runner masked the
        secrets in it: outputs are stored in plain JSON)."""
        record = request[RUN]
        name = request.match_info["name"]
        value = runner_reports.parse_output_put(
            name, await _body(request, wire.MAX_OUTPUT_BODY, runner_reports.MAX_STATE_CONTAINERS)
        )
        try:
            await asyncio.to_thread(self.reports.set_output, record.uid, name, value)
        except OutputRefused as exc:
            return _error(413 if exc.too_large else 409, str(exc))
        return web.json_response({"ok": True})

    async def param_file(self, request: web.Request) -> web.Response:
        """The file given for one of the run's file params, to this run's runner only (its token),
        while the run is live; the runner checks it against the size and SHA-256 sealed in its
        bundle. No user route serves it."""
        record = request[RUN]
        param = request.match_info["param"]
        data = await asyncio.to_thread(self.vault.param_file, _package_of(record), record.uid, param)
        if data is None:
            return _error(404, f"no file was kept for param {param} of this run")
        return web.Response(body=data, content_type="application/octet-stream")

    async def state_get(self, request: web.Request) -> web.Response:
        package_uid = _package_of(request[RUN])
        state = await asyncio.to_thread(self.vault.state_get, package_uid)
        return web.json_response(state)

    async def state_put(self, request: web.Request) -> web.Response:
        package_uid = _package_of(request[RUN])
        key = request.match_info["key"]
        value = runner_reports.parse_state_put(
            key, await _body(request, wire.MAX_STATE_BODY, runner_reports.MAX_STATE_CONTAINERS)
        )
        try:
            await asyncio.to_thread(self.vault.state_put, package_uid, key, value)
        except StateQuotaExceeded as exc:
            return _error(413, str(exc))
        return web.json_response({"ok": True})
