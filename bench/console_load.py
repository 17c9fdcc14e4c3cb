"""The console in a real browser (headless chromium), each view timed from navigation to its data
drawn, next to the same data served as a static HTML page by the same server (the baseline: what
drawing it costs without the console's script and API calls):

- a namespace page of 500 packages;
- the overview over 50 namespaces holding 500 packages and 100,000 runs in a real PostgreSQL;
- the chain graph of 200 packages and 300 FerrisTriggers;
- live output: a step printing a line every 0.25 s through the runner's own ``LiveOutput`` and
  ``LiveSender`` (a chunk a second, appended in PostgreSQL), followed on the run page: from print
  to the line on screen, p50 and p99.

`python -m bench.console_load`; also a stage of `make bench`."""

from __future__ import annotations

import asyncio
import datetime
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import psycopg
from aiohttp import web
from psycopg_pool import ConnectionPool
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from bench.database import migrated_database
from bench.stats import percentile, ratio, report
from ferris_operator import model
from ferris_operator.records import NewRun, User
from ferris_operator.server.api import ServerApi
from ferris_operator.server.authz import Authorizer
from ferris_operator.server.chains_api import ChainsApi
from ferris_operator.server.console import add_console
from ferris_operator.server.identity import TokenCache
from ferris_operator.server.overview_api import OverviewApi
from ferris_operator.store.history import HistoryStore
from ferris_operator.store.reports import ReportStore
from ferris_operator.store.runs import RunStore
from ferris_runner.live import LiveSender
from ferris_runner.output import LiveOutput

PACKAGES = 500
NAMESPACE = "bench"  # the namespace page's 500 packages
TEAMS = 50  # the overview's namespaces, ten packages each
RUNS = 100_000
CHAIN_PACKAGES, TRIGGERS = 200, 300
CHAINS = "chains"
LIVE_LINES, LIVE_EVERY = 40, 0.25
STATIC = {"namespace_page": "packages", "overview": "overview", "chain_graph": "chains"}  # each view's baseline


def package(namespace: str, name: str, scheduled: bool = False) -> dict[str, Any]:
    status: dict[str, Any] = {
        "secrets": {"names": ["API_KEY", "DB_PASS"], "count": 2, "version": 1},
        "conditions": [{"type": "Ready", "status": "True"}],
        "lastRun": {"name": f"{name}-abcde"},
    }
    spec: dict[str, Any] = {"scripts": []}
    if scheduled:
        spec["schedule"] = {"crons": ["0 3 * * *"]}
        status["schedule"] = {"nextScheduleTime": "2027-01-01T03:00:00Z"}
    return {"metadata": {"namespace": namespace, "name": name}, "spec": spec, "status": status}


def trigger(i: int) -> dict[str, Any]:
    source, target = f"pkg-{i % CHAIN_PACKAGES:03d}", f"pkg-{(i * 7 + 1) % CHAIN_PACKAGES:03d}"
    condition = {
        "type": model.RUN_ENDED_CE_TYPE,
        "subject": source,
        "data": [{"path": "outcome.phase", "equals": "Succeeded"}],
    }
    return {
        "metadata": {"namespace": CHAINS, "name": f"t-{i:03d}"},
        "spec": {"filter": condition, "targets": [{"packageRef": {"name": target}}]},
    }


class World:
    """The API server's side: the packages and triggers each view reads."""

    def iter_packages(self, namespaces: tuple[str, ...]) -> Iterator[dict[str, Any]]:
        if namespaces == (NAMESPACE,):
            return (package(NAMESPACE, f"pkg-{i:03d}") for i in range(PACKAGES))
        if namespaces == (CHAINS,):
            return (package(CHAINS, f"pkg-{i:03d}", scheduled=i % 10 == 0) for i in range(CHAIN_PACKAGES))
        return (package(f"team-{i % TEAMS:02d}", f"pkg-{i:03d}", scheduled=i % 5 == 0) for i in range(PACKAGES))

    def iter_triggers(self, namespaces: tuple[str, ...]) -> Iterator[dict[str, Any]]:
        return (trigger(i) for i in range(TRIGGERS))


def seed(url: str) -> None:
    """RUNS runs over the TEAMS namespaces and the last 30 days: most ended, a few hundred
    failed in the last day, a few dozen running or waiting."""
    now = datetime.datetime.now(datetime.UTC)
    with (
        psycopg.connect(url) as conn,
        conn.cursor().copy(
            "COPY runs (uid, namespace, name, package_name, package_uid, package_generation, secrets_version,"
            " phase, reason, message, created_at, started_at, finished_at) FROM STDIN"
        ) as copy,
    ):
        for i in range(RUNS):
            at = now - datetime.timedelta(seconds=26 * (RUNS - i))
            phase = (
                "Running"
                if i >= RUNS - 40
                else "Pending"
                if i >= RUNS - 60
                else "Failed"
                if i % 10 == 0
                else "Succeeded"
            )
            ended = phase in ("Failed", "Succeeded")
            copy.write_row(
                (
                    f"uid-{i:06d}",
                    f"team-{i % TEAMS:02d}",
                    f"run-{i:06d}",
                    f"pkg-{i % PACKAGES:03d}",
                    "puid",
                    1,
                    1,
                    phase,
                    "StepFailed" if phase == "Failed" else None,
                    "",
                    at,
                    at,
                    at + datetime.timedelta(seconds=3) if ended else None,
                )
            )
    with psycopg.connect(url) as conn:
        conn.execute("ANALYZE runs")


def static_table(rows: list[list[str]], mark: str) -> str:
    body = "".join(f"<tr {mark}><td>" + "</td><td>".join(row) + "</td></tr>" for row in rows)
    return f"<!doctype html><html><body><table><tbody>{body}</tbody></table></body></html>"


def baselines() -> dict[str, str]:
    """The data of each view as a plain page: what the browser needs to draw it, nothing more."""
    packages = [[f"pkg-{i:03d}", "Ready", "API_KEY, DB_PASS", f"pkg-{i:03d}-abcde"] for i in range(PACKAGES)]
    overview = [[f"team-{i:02d}", "10", "1", "0", "20", "180"] for i in range(TEAMS)]
    edges = []
    for i in range(TRIGGERS):
        t = trigger(i)
        edges.append(
            [t["metadata"]["name"], t["spec"]["filter"]["subject"], t["spec"]["targets"][0]["packageRef"]["name"]]
        )
    nodes = [[f"pkg-{i:03d}"] for i in range(CHAIN_PACKAGES)]
    return {
        "packages": static_table(packages, "data-package"),
        "overview": static_table(overview, "data-namespace"),
        "chains": static_table(nodes + edges, "data-row"),
    }


@contextmanager
def serving(pool: ConnectionPool) -> Iterator[int]:
    allow = lambda user, access, namespace, name: True  # noqa: E731 - RBAC is not measured here
    world, history, authorizer = World(), HistoryStore(pool), Authorizer(allow)
    api = ServerApi(
        world,  # type: ignore[arg-type]  # packages and triggers are all that is read
        history,
        TokenCache(lambda token: User("bench")),
        authorizer,
        more_routes=[*OverviewApi(world, history, authorizer).routes(), *ChainsApi(world).routes()],  # type: ignore[arg-type]
    )
    app = api.app()
    add_console(app)
    pages = baselines()

    def static(name: str) -> Any:
        async def serve(request: web.Request) -> web.Response:
            return web.Response(text=pages[name], content_type="text/html")

        return serve

    for name in pages:
        app.router.add_get(f"/static/{name}", static(name))
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


def _load(driver: webdriver.Chrome, url: str, selector: str, count: int) -> float:
    started = time.perf_counter()
    driver.get(url)
    rendered = WebDriverWait(driver, 60, poll_frequency=0.005)
    rendered.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, selector)) >= count)
    return (time.perf_counter() - started) * 1000


class Api:
    """What the runner's LiveSender sends to: here straight into the report store."""

    def __init__(self, reports: ReportStore, uid: str) -> None:
        self.reports, self.uid = reports, uid

    def chunk(self, idx: int, offset: int, text: str) -> bool:
        self.reports.append_output(self.uid, idx, offset, text)
        return True


def live_latencies(driver: webdriver.Chrome, base: str, pool: ConnectionPool) -> list[float]:
    """Milliseconds from each line's print to its being on the run page."""
    uid = "live-run"
    RunStore(pool).record_start(NewRun(uid, NAMESPACE, "live-run", "pkg-000", "puid", 1, 1, "d", ["main.py"]))
    reports = ReportStore(pool)
    reports.step(uid, 0, model.STEP_RUNNING, None, datetime.datetime.now(datetime.UTC), None, None, True)
    driver.get(f"{base}/#/ns/{NAMESPACE}/runs/live-run")
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "live-output"))
    driver.execute_script(
        "const live = document.getElementById('live-output'); window.__seen = {};"
        "new MutationObserver(() => { for (const line of live.textContent.split('\\n'))"
        "  if (line && !(line in window.__seen)) window.__seen[line] = Date.now(); })"
        ".observe(live, {childList: true, subtree: true, characterData: true});"
    )
    printed: dict[str, float] = {}
    with LiveSender(cast(Any, Api(reports, uid)), 0, LiveOutput()) as live:
        for i in range(LIVE_LINES):
            line = f"line {i}"
            printed[line] = time.time() * 1000
            live.add(line + "\n")
            time.sleep(LIVE_EVERY)
        time.sleep(2.5)  # the last chunk, and the follower's next read
    seen: dict[str, float] = driver.execute_script("return window.__seen")
    return [seen[line] - at for line, at in printed.items() if line in seen]


def measure(loads: int = 15) -> dict[str, Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    with migrated_database() as (url, pool):
        seed(url)
        with serving(pool) as port, tempfile.TemporaryDirectory(prefix="ferris-browser-") as home:
            options.add_argument(f"--user-data-dir={home}/profile")  # chromium's files go with it
            service = webdriver.ChromeService("/usr/bin/chromedriver", env={**os.environ, "TMPDIR": home})
            driver = webdriver.Chrome(options=options, service=service)
            try:
                base = f"http://127.0.0.1:{port}"
                driver.get(base + "/")
                driver.execute_script("sessionStorage.setItem('ferris-token', 'bench')")
                views = {
                    "namespace_page": (
                        f"/#/ns/{NAMESPACE}",
                        "tr[data-package]",
                        PACKAGES,
                        "tr[data-package]",
                        PACKAGES,
                    ),
                    "overview": ("/#/", "#namespaces tr[data-namespace]", TEAMS, "tr[data-namespace]", TEAMS),
                    "chain_graph": (
                        f"/#/ns/{CHAINS}/chains",
                        "#chain-graph path[data-trigger]",
                        TRIGGERS,
                        "tr[data-row]",
                        CHAIN_PACKAGES + TRIGGERS,
                    ),
                }
                figures: dict[str, Any] = {}
                for name, (path, selector, count, static_selector, static_count) in views.items():
                    console, static = [], []
                    for _ in range(loads):
                        driver.get("about:blank")
                        console.append(_load(driver, base + path, selector, count))
                        driver.get("about:blank")
                        static.append(_load(driver, f"{base}/static/{STATIC[name]}", static_selector, static_count))
                    figures[name] = {
                        "console_p50_ms": percentile(console, 50),
                        "console_p99_ms": percentile(console, 99),
                        "static_p50_ms": percentile(static, 50),
                        "static_p99_ms": percentile(static, 99),
                        "p50_ratio": ratio(percentile(console, 50), percentile(static, 50)),
                    }
                lags = live_latencies(driver, base, pool)
            finally:
                driver.quit()
    return {
        "packages": PACKAGES,
        "runs": RUNS,
        "namespaces": TEAMS,
        "chain_packages": CHAIN_PACKAGES,
        "triggers": TRIGGERS,
        "loads": loads,
        **figures,
        "live": {
            "lines": LIVE_LINES,
            "seen": len(lags),
            "print_to_screen_p50_ms": percentile(lags, 50),
            "print_to_screen_p99_ms": percentile(lags, 99),
        },
    }


def summary(r: dict[str, Any]) -> str:
    views = (
        ("namespace_page", f"namespace page ({r['packages']} packages)"),
        ("overview", f"overview ({r['namespaces']} namespaces, {r['runs']:,} runs)"),
        ("chain_graph", f"chain graph ({r['chain_packages']} packages, {r['triggers']} triggers)"),
    )
    lines = [
        f"console {title} in headless chromium: p50 {r[key]['console_p50_ms']:.0f} ms,"
        f" p99 {r[key]['console_p99_ms']:.0f} ms; the same data as a static page {r[key]['static_p50_ms']:.0f} ms"
        f" (ratio {r[key]['p50_ratio']:.1f})"
        for key, title in views
    ]
    live = r["live"]
    lines.append(
        f"console live output ({live['seen']}/{live['lines']} lines seen): print to screen p50"
        f" {live['print_to_screen_p50_ms']:.0f} ms, p99 {live['print_to_screen_p99_ms']:.0f} ms"
    )
    return "\n".join(lines)


def main() -> None:
    report(measure(), summary)


if __name__ == "__main__":
    main()
