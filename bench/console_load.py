"""The console's first page in a real browser (headless chromium): from navigation to a table
of 500 packages drawn, next to the same table served as a static HTML page by the same server
(the baseline: what drawing it costs without the console's script and API calls).
`python -m bench.console_load`; also a stage of `make bench`."""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from bench.stats import percentile, ratio, report
from ferris_operator.records import User
from ferris_operator.server.api import ServerApi
from ferris_operator.server.authz import Authorizer
from ferris_operator.server.console import add_console
from ferris_operator.server.identity import TokenCache

PACKAGES = 500
NAMESPACE = "bench"


def package(i: int) -> dict[str, Any]:
    status = {
        "secrets": {"names": ["API_KEY", "DB_PASS"], "count": 2, "version": 1},
        "conditions": [{"type": "Ready", "status": "True"}],
        "lastRun": {"name": f"pkg-{i:03d}-abcde"},
    }
    return {"metadata": {"namespace": NAMESPACE, "name": f"pkg-{i:03d}"}, "spec": {"scripts": []}, "status": status}


class ManyPackages:
    def iter_packages(self, namespaces: tuple[str, ...]) -> Iterator[dict[str, Any]]:
        return (package(i) for i in range(PACKAGES))


def static_page() -> str:
    rows = "".join(
        f"<tr data-package='pkg-{i:03d}'><td>pkg-{i:03d}</td><td>Ready</td><td>API_KEY, DB_PASS</td>"
        f"<td>pkg-{i:03d}-abcde</td></tr>"
        for i in range(PACKAGES)
    )
    return f"<!doctype html><html><body><table><tbody>{rows}</tbody></table></body></html>"


@contextmanager
def serving() -> Iterator[int]:
    allow = lambda user, access, namespace, name: True  # noqa: E731 - RBAC is not measured here
    api = ServerApi(
        ManyPackages(),  # type: ignore[arg-type]  # only the package list is read
        None,  # type: ignore[arg-type]
        TokenCache(lambda token: User("bench")),
        Authorizer(allow),
    )
    app = api.app()
    add_console(app)
    page = static_page()

    async def baseline(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    app.router.add_get("/static", baseline)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.run_until_complete(runner.cleanup())
        loop.close()


def _load(driver: webdriver.Chrome, url: str, rows: int) -> float:
    started = time.perf_counter()
    driver.get(url)
    rendered = WebDriverWait(driver, 30, poll_frequency=0.005)
    rendered.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "tr[data-package]")) == rows)
    return (time.perf_counter() - started) * 1000


def measure(loads: int = 15) -> dict[str, Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    with serving() as port, tempfile.TemporaryDirectory(prefix="ferris-browser-") as home:
        options.add_argument(f"--user-data-dir={home}/profile")  # chromium's files go with it
        service = webdriver.ChromeService("/usr/bin/chromedriver", env={**os.environ, "TMPDIR": home})
        driver = webdriver.Chrome(options=options, service=service)
        try:
            base = f"http://127.0.0.1:{port}"
            driver.get(base + "/")
            driver.execute_script("sessionStorage.setItem('ferris-token', 'bench')")
            console, static = [], []
            for _ in range(loads):
                driver.get("about:blank")
                console.append(_load(driver, f"{base}/#/ns/{NAMESPACE}", PACKAGES))
                driver.get("about:blank")
                static.append(_load(driver, f"{base}/static", PACKAGES))
        finally:
            driver.quit()
    return {
        "packages": PACKAGES,
        "loads": loads,
        "console_p50_ms": percentile(console, 50),
        "console_p99_ms": percentile(console, 99),
        "static_p50_ms": percentile(static, 50),
        "p50_ratio": ratio(percentile(console, 50), percentile(static, 50)),
    }


def summary(r: dict[str, Any]) -> str:
    return (
        f"console first page ({r['packages']} packages) in headless chromium: p50 {r['console_p50_ms']:.0f} ms, "
        f"p99 {r['console_p99_ms']:.0f} ms; the same table as a static page {r['static_p50_ms']:.0f} ms "
        f"(ratio {r['p50_ratio']:.1f})"
    )


def main() -> None:
    report(measure(), summary)


if __name__ == "__main__":
    main()
