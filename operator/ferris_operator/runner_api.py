"""The runner API: runner pods report steps and read or write package state here.

Every request carries the run's token (``Authorization: Bearer``). It is compared in
constant time with the digest stored for that run, and stops working when the run ends.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import psycopg_pool
from aiohttp import web

from ferris_operator import metrics
from ferris_operator.run_service import RunService
from ferris_operator.store.runs import RunRecord, token_digest

log = logging.getLogger("ferris.runner-api")
MAX_BODY = 8 * 1024 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class RunnerApi:
    def __init__(self, service: RunService) -> None:
        self.service = service

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY, middlewares=[self._database_errors])
        app.add_routes(
            [
                web.post("/v1/runs/{uid}/steps/{idx}", self.step),
                web.post("/v1/runs/{uid}/finish", self.finish),
                web.get("/v1/runs/{uid}/state", self.state_get),
                web.put("/v1/runs/{uid}/state/{key}", self.state_put),
            ]
        )
        return app

    @web.middleware
    async def _database_errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout):
            metrics.DATABASE_ERRORS.inc()
            return _error(503, "database unavailable; retry later")

    async def _authorise(self, request: web.Request) -> RunRecord | web.Response:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else ""
        record = await asyncio.to_thread(self.service.runs.get, request.match_info["uid"])
        expected = record.token_sha256 if record else None
        # Compare even when the run is unknown, so timing does not tell which runs exist.
        ok = hmac.compare_digest(token_digest(token), expected or "0" * 64)
        if record is None or not expected or not ok:
            return _error(401, "invalid or revoked run token")
        return record

    async def step(self, request: web.Request) -> web.Response:
        record = await self._authorise(request)
        if isinstance(record, web.Response):
            return record
        report: dict[str, Any] = await request.json()
        await asyncio.to_thread(self.service.record_step, record.uid, int(request.match_info["idx"]), report)
        return web.json_response({"ok": True})

    async def finish(self, request: web.Request) -> web.Response:
        record = await self._authorise(request)
        if isinstance(record, web.Response):
            return record
        report: dict[str, Any] = await request.json()
        await asyncio.to_thread(
            self.service.runner_finished,
            record.uid,
            bool(report.get("succeeded")),
            str(report.get("message", ""))[:1024],
        )
        return web.json_response({"ok": True})

    async def state_get(self, request: web.Request) -> web.Response:
        record = await self._authorise(request)
        if isinstance(record, web.Response):
            return record
        if not record.package_uid:
            return _error(409, "the run has no package")
        state = await asyncio.to_thread(self.service.runs.state_get, record.package_uid)
        return web.json_response(state)

    async def state_put(self, request: web.Request) -> web.Response:
        record = await self._authorise(request)
        if isinstance(record, web.Response):
            return record
        if not record.package_uid:
            return _error(409, "the run has no package")
        body: dict[str, Any] = await request.json()
        if "value" not in body:
            return _error(400, 'body must be {"value": ...}')
        await asyncio.to_thread(
            self.service.runs.state_put, record.package_uid, request.match_info["key"], body["value"]
        )
        return web.json_response({"ok": True})
