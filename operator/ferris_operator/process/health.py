"""Liveness, readiness and Prometheus metrics on one small HTTP server."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


def health_app(not_ready: Callable[[], str | None]) -> web.Application:
    """``not_ready()``: why the process is not ready (None: it is), said in /readyz's answer."""

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def readyz(request: web.Request) -> web.Response:
        why = not_ready()
        return web.Response(text="ready") if why is None else web.Response(text=f"not ready: {why}", status=503)

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.add_routes([web.get("/healthz", healthz), web.get("/readyz", readyz), web.get("/metrics", metrics)])
    return app
