"""The web console's files (index.html, app.js, app.css), served as they are: no build step,
no third-party code. Every answer of the server carries headers that keep a page of it from
running anything but these files or being framed by another site."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

FILES = Path(__file__).parent / "console"
TYPES = {"app.js": "text/javascript", "app.css": "text/css"}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@web.middleware
async def security_headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    response = await handler(request)
    if not response.prepared:  # a stream sets them itself before its first byte
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)  # the console's own files may be cached
    return response


def add_console(app: web.Application) -> None:
    """The page names its script and style by their digest (``?v=``): a browser keeps them for a
    year and asks again only when they change. The page itself, like every answer with data, is
    never stored."""
    assets = {name: (FILES / name).read_bytes() for name in TYPES}
    versions = {name: hashlib.sha256(body).hexdigest()[:16] for name, body in assets.items()}
    index = (FILES / "index.html").read_bytes()
    for name, version in versions.items():
        index = index.replace(f"/console/{name}".encode(), f"/console/{name}?v={version}".encode())

    async def page(request: web.Request) -> web.Response:
        return web.Response(body=index, content_type="text/html", charset="utf-8")

    async def asset(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in assets:
            raise web.HTTPNotFound()
        cached = (
            {"Cache-Control": "public, max-age=31536000, immutable"} if request.query.get("v") == versions[name] else {}
        )
        return web.Response(body=assets[name], content_type=TYPES[name], charset="utf-8", headers=cached)

    app.router.add_get("/", page)
    app.router.add_get("/console/{name}", asset)
