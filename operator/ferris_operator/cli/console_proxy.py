"""The proxy behind `ferris console` (its argument in console.py): on 127.0.0.1, it forwards
the console and its API calls to the Ferris server with the kubeconfig's credential, made anew
by the client library for each request (an exec plugin's token is refreshed when it expires).
Only the browser that opened the printed URL gets in: the URL carries a one-off code, good for
one use, exchanged for a separate random SameSite=Strict, HttpOnly cookie; the browser is opened
on a 0600 file that redirects to it, so the code is in no process's arguments; a request must
name this proxy's own host (a DNS-rebinding page names its own), and a request that changes
something must come from the console's own origin, so another site cannot use the proxy."""

from __future__ import annotations

import argparse
import asyncio
import hmac
import html
import secrets
import tempfile
import webbrowser
from pathlib import Path

import aiohttp
from aiohttp import web

from ferris_operator.cli.kubeconfig import context_of
from ferris_operator.cli.server import ServerClient, ServerError
from ferris_operator.process.stopping import until_stopped

COOKIE = "ferris-console"
FORWARDED_HEADERS = ("Content-Type", "Accept")
MAX_BODY = 1024 * 1024


class ConsoleProxy:
    def __init__(self, server: ServerClient) -> None:
        self.server = server
        self.secret = secrets.token_urlsafe(32)  # the one-off code in the printed URL
        self.session = secrets.token_urlsafe(32)  # the cookie it is exchanged for, once
        self.used = False
        self.origin = ""  # set once the port is known
        self.hosts: tuple[str, ...] = ()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("*", "/{path:.*}", self.forward)
        return app

    async def forward(self, request: web.Request) -> web.StreamResponse:
        if request.host not in self.hosts:
            return web.Response(status=421, text="this console answers on 127.0.0.1 and localhost only")
        offered = request.query.get("session")
        if offered is not None:
            if self.used or not hmac.compare_digest(offered, self.secret):
                return web.Response(
                    status=401,
                    text="that console URL was used already, or is not this console's; run ferris console again",
                )
            self.used = True
            found = web.HTTPFound("/")
            found.set_cookie(COOKIE, self.session, httponly=True, samesite="Strict", path="/")
            return found
        if not hmac.compare_digest(request.cookies.get(COOKIE, ""), self.session):
            return web.Response(status=401, text="open the URL that `ferris console` printed")
        if request.method not in ("GET", "HEAD") and request.headers.get("Origin") != self.origin:
            return web.Response(status=403, text="requests that change something must come from the console itself")
        headers = {k: v for k, v in request.headers.items() if k in FORWARDED_HEADERS}
        try:
            headers |= await asyncio.to_thread(self.server.headers)  # an exec plugin may run: not on the loop
        except ServerError as exc:
            return web.Response(status=502, text=f"ferris console: {exc}")
        body = await request.read() if request.can_read_body else None
        session: aiohttp.ClientSession = request.app["session"]
        async with session.request(
            request.method, self.server.url + request.rel_url.path_qs, headers=headers, data=body, ssl=self.server.tls
        ) as upstream:
            response = web.StreamResponse(status=upstream.status)
            for name, value in upstream.headers.items():
                if name.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                    response.headers[name] = value
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response


async def serve(proxy: ConsoleProxy, port: int, open_browser: bool) -> None:
    app = proxy.app()
    runner = web.AppRunner(app, access_log=None)
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        app["session"] = session
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        bound = runner.addresses[0][1]
        proxy.origin = f"http://127.0.0.1:{bound}"
        proxy.hosts = (f"127.0.0.1:{bound}", f"localhost:{bound}")
        url = f"{proxy.origin}/?session={proxy.secret}"
        print(f"the Ferris console, as your kubeconfig's user: {url}", flush=True)
        print("stop it with Ctrl-C; the URL lets one browser in, once", flush=True)
        with tempfile.TemporaryDirectory(prefix="ferris-console-") as private:
            if open_browser:
                webbrowser.open(redirect_file(Path(private), url).as_uri())
            try:
                await until_stopped()
            finally:
                await runner.cleanup()


def redirect_file(folder: Path, url: str) -> Path:
    """A page only this user can read that sends the browser on to ``url``: the one-off code
    stays out of the browser's command line (which every user of the machine can read)."""
    page = folder / "console.html"
    page.touch(mode=0o600)
    page.write_text(f'<!doctype html><meta http-equiv="refresh" content="0;url={html.escape(url)}">\n')
    return page


def cmd_console(args: argparse.Namespace) -> int:
    try:
        server = ServerClient.from_kubeconfig(args.ferris_namespace, context_of(args))
    except ServerError as exc:
        raise SystemExit(f"ferris console: {exc}") from None
    asyncio.run(serve(ConsoleProxy(server), args.port, not args.no_browser))
    return 0
