"""The web console in a real headless browser (Debian's chromium, driven by Selenium), as a
view user and as an edit user: packages with secret names only, a run and its full output,
Run with the package's parameters form, watched until it finishes. Screenshots are kept in
test-artifacts/console/."""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import json
import os
import re
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import Select, WebDriverWait

from .conftest import FERRIS, Ferris

pytestmark = pytest.mark.cluster
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
SCHEMA = {
    "required": ["region"],
    "properties": {
        "region": {"type": "string", "enum": ["eu", "us"], "widget": "radio", "default": "eu"},
        "retries": {"type": "integer", "minimum": 0, "maximum": 3, "default": 1},
        "dry_run": {"type": "boolean"},
    },
}
SCRIPT = (
    "import json, sys\nfrom ferris_ef import get_secret\np = json.loads(sys.argv[1])\n"
    "print('region', p['region'], 'retries', p['retries'], 'dry', p.get('dry_run'))\n"
    "print('token', get_secret('TOKEN'))\n"
)


def spki_pin(certificate: Path) -> str:
    """The server certificate's public-key hash: the browser trusts exactly that key."""
    cert = x509.load_pem_x509_certificate(certificate.read_bytes())
    der = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


@pytest.fixture
def browser(ferris: Ferris) -> Iterator[WebDriver]:
    # The profile and chromium's own temporary files (its singleton socket) in one folder that
    # goes with the browser: nothing left in /tmp.
    with tempfile.TemporaryDirectory(prefix="ferris-browser-") as home:
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
            options.add_argument(argument)
        options.add_argument(f"--user-data-dir={home}/profile")
        pin = spki_pin(ferris.stack.server_tls_dir / "tls.crt")
        options.add_argument(f"--ignore-certificate-errors-spki-list={pin}")
        service = webdriver.ChromeService(executable_path="/usr/bin/chromedriver", env={**os.environ, "TMPDIR": home})
        driver = webdriver.Chrome(options=options, service=service)
        try:
            yield driver
        finally:
            driver.quit()


class World:
    def __init__(self, ferris: Ferris) -> None:
        self.ferris = ferris
        self.namespace = "console-" + uuid.uuid4().hex[:6]
        self.canary = "cons-c4n4ry-" + uuid.uuid4().hex
        ferris.kubectl("create", "namespace", self.namespace)
        ferris.secret(self.namespace, "formed-source", json.dumps({"TOKEN": self.canary}))
        ferris.package(
            self.namespace, "formed", SCRIPT, paramsSchema=SCHEMA, secretsFrom={"secretName": "formed-source"}
        )
        ferris.wait_condition(self.namespace, "ferrispackage", "formed", "Ready")
        manual = "from ferris_ef import get_secret\nprint('token', get_secret('TOKEN'))\n"
        ferris.package(self.namespace, "manual", manual)  # no source: its secrets are uploaded
        ferris.wait_condition(self.namespace, "ferrispackage", "manual", "Ready")
        self.run = ferris.create_run(self.namespace, "formed", params={"region": "us"})
        assert ferris.wait_run(self.namespace, self.run)["status"]["phase"] == "Succeeded"
        self.tokens = {}
        for account, role in (("viewer", "view"), ("editor", "edit")):
            ferris.kubectl("create", "serviceaccount", account, "-n", self.namespace)
            subject = f"--serviceaccount={self.namespace}:{account}"
            ferris.kubectl("create", "rolebinding", account, f"--clusterrole={role}", subject, "-n", self.namespace)
            self.tokens[account] = ferris.kubectl("create", "token", account, "-n", self.namespace).stdout.strip()

    def apply(self, kind: str, name: str, spec: dict[str, object]) -> None:
        """A Ferris object of ``kind`` in the world's namespace."""
        manifest = {"apiVersion": "ferris.io/v1alpha1", "kind": kind, "metadata": {"name": name}, "spec": spec}
        self.ferris.apply(self.namespace, manifest)


@pytest.fixture(scope="module")
def world(ferris: Ferris) -> World:
    return World(ferris)


def log_in(driver: WebDriver, world: World, account: str) -> WebDriverWait[WebDriver]:
    wait = waiting(driver, 30)
    driver.get(world.ferris.stack.server_url + "/")
    wait.until(ready.visibility_of_element_located((By.ID, "token"))).send_keys(world.tokens[account])
    driver.find_element(By.CSS_SELECTOR, "#login-form button").click()
    wait.until(lambda d: d.find_element(By.ID, "user").text.endswith(f":{account}"))
    namespace = driver.find_element(By.ID, "namespace")
    namespace.clear()
    namespace.send_keys(world.namespace)
    driver.find_element(By.CSS_SELECTOR, "#namespace-form button").click()
    return wait


def waiting(driver: WebDriver, seconds: float) -> WebDriverWait[WebDriver]:
    """A wait that looks again when the page redrew under it (the run page redraws itself every
    1.5 s while the run goes on, so an element found a moment ago may be gone)."""
    return WebDriverWait(driver, seconds, ignored_exceptions=(StaleElementReferenceException,))


def keep(driver: WebDriver, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def test_a_viewer_filters_a_namespaces_runs_pages_through_them_and_the_link_keeps_both(
    world: World, browser: WebDriver
) -> None:
    script = "import json, sys\nraise SystemExit(1 if json.loads(sys.argv[1]).get('fail') else 0)\n"
    world.apply("FerrisPackage", "filtered", {"scripts": [{"name": "main.py", "content": script}]})
    world.ferris.wait_condition(world.namespace, "ferrispackage", "filtered", "Ready")
    good = world.ferris.create_run(world.namespace, "filtered")
    bad = world.ferris.create_run(world.namespace, "filtered", params={"fail": True})
    assert world.ferris.wait_run(world.namespace, good)["status"]["phase"] == "Succeeded"
    assert world.ferris.wait_run(world.namespace, bad)["status"]["phase"] == "Failed"
    wait = log_in(browser, world, "viewer")
    wait.until(ready.presence_of_element_located((By.ID, "runs-link"))).click()
    form = wait.until(ready.presence_of_element_located((By.ID, "runs-filter")))
    form.find_element(By.ID, "filter-package").send_keys("filtered")
    Select(form.find_element(By.ID, "filter-phase")).select_by_visible_text("Failed")
    form.find_element(By.ID, "filter").click()
    wait.until(lambda d: "phase=Failed" in d.current_url)
    # The unfiltered table may still be up for a moment: wait for the filtered one (redraws are tolerated).
    wait.until(lambda d: [a.text for a in d.find_elements(By.CSS_SELECTOR, "#view tbody tr a")] == [bad])
    keep(browser, "viewer-runs-filtered")
    link = browser.current_url
    browser.get("about:blank")
    browser.get(link)  # the link alone shows the same runs and filters
    wait.until(lambda d: [a.text for a in d.find_elements(By.CSS_SELECTOR, "#view tbody tr a")] == [bad])
    assert Select(browser.find_element(By.ID, "filter-phase")).first_selected_option.text == "Failed"
    browser.get(f"{world.ferris.stack.server_url}/#/ns/{world.namespace}/runs?package=filtered&limit=1")
    older = wait.until(ready.element_to_be_clickable((By.ID, "older")))  # the one-run page is drawn
    first = wait.until(lambda d: [a.text for a in d.find_elements(By.CSS_SELECTOR, "#view tbody tr a")] or None)
    assert first == [bad]  # newest first
    older.click()
    second = wait.until(
        lambda d: (names := [a.text for a in d.find_elements(By.CSS_SELECTOR, "#view tbody tr a")]) != first and names
    )
    assert sorted(first + second) == sorted([good, bad])  # newest first, then the one before it
    wait.until(ready.element_to_be_clickable((By.ID, "first-page"))).click()
    wait.until(lambda d: [a.text for a in d.find_elements(By.CSS_SELECTOR, "#view tbody tr a")] == first)
    browser.get(f"{world.ferris.stack.server_url}/#/ns/{world.namespace}/runs?package=filtered&order=oldest")
    wait.until(lambda d: [a.text for a in d.find_elements(By.CSS_SELECTOR, "#view tbody tr a")] == [good, bad])
    assert Select(browser.find_element(By.ID, "filter-order")).first_selected_option.text == "oldest first"


def test_a_viewer_reads_packages_runs_and_output_and_is_offered_no_run(world: World, browser: WebDriver) -> None:
    wait = log_in(browser, world, "viewer")
    row = wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, 'tr[data-package="formed"]')))
    assert row.find_element(By.CLASS_NAME, "secret-names").text == "TOKEN"
    assert row.find_element(By.CLASS_NAME, "next-run").text == "—"  # no schedule
    keep(browser, "viewer-packages")
    row.find_element(By.LINK_TEXT, "formed").click()
    link = wait.until(ready.presence_of_element_located((By.LINK_TEXT, world.run)))
    trigger = link.find_element(By.XPATH, "./ancestor::tr").find_element(By.CLASS_NAME, "trigger")
    assert trigger.text == "Manual"
    link.click()
    output = wait.until(ready.presence_of_element_located((By.CLASS_NAME, "step-output")))
    assert "region us retries 1 dry None" in output.text and "token ****" in output.text
    keep(browser, "viewer-run")
    assert not browser.find_elements(By.ID, "rerun")
    browser.get(f"{world.ferris.stack.server_url}/#/ns/{world.namespace}/packages/formed")
    wait.until(ready.presence_of_element_located((By.CLASS_NAME, "secret-names")))
    assert not browser.find_elements(By.ID, "run-form"), "a viewer is offered Run"
    assert not browser.find_elements(By.ID, "upload-form"), "a viewer is offered an upload"
    assert world.canary not in browser.page_source


def test_a_viewer_sees_a_packages_schedule_its_skipped_times_and_offset(world: World, browser: WebDriver) -> None:
    """A yearly schedule with a skipped time and jitter: the package page shows them, and the
    commands that skip and backfill with the user's own credentials."""
    skipped = f"{datetime.datetime.now(datetime.UTC).year + 1}-01-01T00:00:00Z"
    world.apply(
        "FerrisPackage",
        "yearly",
        {
            "scripts": [{"name": "main.py", "content": "print(1)"}],
            "schedule": {"crons": ["@yearly"], "skip": [skipped], "jitterSeconds": 600},
        },
    )
    world.ferris.wait_condition(world.namespace, "ferrispackage", "yearly", "Ready")
    deadline = time.monotonic() + 60
    while "nextScheduleTime" not in world.ferris.get(world.namespace, "ferrispackage", "yearly")["status"].get(
        "schedule", {}
    ):
        assert time.monotonic() < deadline, "the schedule was not taken up"
        time.sleep(0.5)
    shown = world.ferris.get(world.namespace, "ferrispackage", "yearly")["status"]["schedule"]
    wait = log_in(browser, world, "viewer")
    wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, 'tr[data-package="yearly"]')))
    browser.get(f"{world.ferris.stack.server_url}/#/ns/{world.namespace}/packages/yearly")
    facts = wait.until(ready.presence_of_element_located((By.ID, "schedule"))).text
    assert skipped in facts and shown["nextScheduleTime"] in facts and shown["nextScheduleTime"] != skipped
    assert f"{shown.get('offsetSeconds', 0)} s" in facts
    command = browser.find_element(By.ID, "skip-command").text
    assert command == f"ferris schedules skip yearly --next -n {world.namespace}"
    keep(browser, "viewer-schedule")


def test_an_editor_types_a_secret_param_into_a_password_field_and_it_is_never_shown(
    world: World, browser: WebDriver
) -> None:
    secret = "c0ns0le-" + uuid.uuid4().hex
    script = "import json, sys\nargs = json.loads(sys.argv[1])\nprint('key', args['api_key'], len(args['api_key']))\n"
    world.apply(
        "FerrisPackage",
        "guarded",
        {
            "scripts": [{"name": "main.py", "content": script}],
            "paramsSchema": {"required": ["api_key"], "properties": {"api_key": {"type": "string", "secret": True}}},
        },
    )
    world.ferris.wait_condition(world.namespace, "ferrispackage", "guarded", "Ready")
    wait = log_in(browser, world, "editor")
    wait.until(ready.presence_of_element_located((By.LINK_TEXT, "guarded"))).click()
    form = wait.until(ready.presence_of_element_located((By.ID, "run-form")))
    field = form.find_element(By.NAME, "api_key")
    assert field.get_attribute("type") == "password"
    field.send_keys(secret)
    form.find_element(By.ID, "run").click()
    wait.until(lambda d: "/runs/" in d.current_url)
    waiting(browser, 120).until(lambda d: d.find_element(By.ID, "run-phase").text == "Succeeded")
    output = waiting(browser, 30).until(
        lambda d: next((p for p in d.find_elements(By.CLASS_NAME, "step-output") if "key" in p.text), None)
    )
    assert f"key **** {len(secret)}" in output.text  # the script had it; the page never shows it
    rerun = wait.until(ready.presence_of_element_located((By.ID, "rerun-form")))
    assert rerun.find_element(By.NAME, "api_key").get_attribute("value") == ""  # typed again, never kept
    keep(browser, "editor-secret-param")
    assert secret not in browser.page_source


def test_an_editor_uploads_a_csv_with_the_run_form_and_the_script_reads_it_whole(
    world: World, browser: WebDriver, tmp_path: Path
) -> None:
    script = (
        "import hashlib\nfrom ferris_ef import get_param\n"
        "print('digest', hashlib.sha256(open(get_param('data'), 'rb').read()).hexdigest())\n"
    )
    schema = {
        "required": ["data"],
        "properties": {"data": {"type": "file", "maxBytes": 3 * 1024 * 1024, "accept": [".csv"]}},
    }
    world.apply(
        "FerrisPackage", "takes-a-file", {"scripts": [{"name": "main.py", "content": script}], "paramsSchema": schema}
    )
    world.ferris.wait_condition(world.namespace, "ferrispackage", "takes-a-file", "Ready")
    rows = tmp_path / "rows.csv"
    rows.write_bytes(b"id,amount\n" + b"1,42.5\n" * (2 * 1024 * 1024 // 7))
    wait = log_in(browser, world, "editor")
    wait.until(ready.presence_of_element_located((By.LINK_TEXT, "takes-a-file"))).click()
    form = wait.until(ready.presence_of_element_located((By.ID, "run-form")))
    field = form.find_element(By.NAME, "data")
    assert (field.get_attribute("type"), field.get_attribute("accept")) == ("file", ".csv")
    field.send_keys(str(rows))
    form.find_element(By.ID, "run").click()
    wait.until(lambda d: "/runs/" in d.current_url)
    waiting(browser, 120).until(lambda d: d.find_element(By.ID, "run-phase").text == "Succeeded")
    digest = hashlib.sha256(rows.read_bytes()).hexdigest()
    waiting(browser, 30).until(lambda d: any(digest in p.text for p in d.find_elements(By.CLASS_NAME, "step-output")))
    name = browser.current_url.rsplit("/", 1)[-1]
    run = world.ferris.get(world.namespace, "ferrisrun", name)
    assert run["spec"]["params"] == {"data": {"file": "rows.csv", "bytes": rows.stat().st_size}}
    keep(browser, "editor-file-param")


def sleeping_run(world: World) -> str:
    """A run of a package that sleeps two minutes: the page of a run still going."""
    script = "import time\ntime.sleep(120)\n"
    world.apply("FerrisPackage", "sleepy", {"scripts": [{"name": "main.py", "content": script}]})
    world.ferris.wait_condition(world.namespace, "ferrispackage", "sleepy", "Ready")
    run = world.ferris.create_run(world.namespace, "sleepy")
    return f"{world.ferris.stack.server_url}/#/ns/{world.namespace}/runs/{run}"


def axe_source() -> str:
    """axe-core as `make setup` fetched it (FERRIS_AXE_JS, else the newest in ~/.cache/ferris)."""
    named = os.environ.get("FERRIS_AXE_JS")
    found = [Path(named)] if named else sorted(Path.home().glob(".cache/ferris/axe-core-*/axe.min.js"))
    assert found and found[-1].is_file(), "axe-core is missing: run `make browser-checks` (part of `make setup`)"
    return found[-1].read_text()


def axe_violations(driver: WebDriver, source: str) -> list[str]:
    """axe-core run in the page as it is drawn: its serious and critical violations, one line each."""
    driver.execute_script(source)
    found = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then((r) => done(r.violations.map((v) =>"
        " ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 3)}))))"
        ".catch((e) => done([{id: 'axe-failed', impact: 'critical', help: String(e), nodes: []}]));"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {v['nodes']}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("account", ["viewer", "editor"])
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_view_passes_axe_and_fits_1024_pixels(world: World, browser: WebDriver, account: str, theme: str) -> None:
    """axe-core (npm, run in the same chromium) finds no serious or critical violation on any view,
    for either role, in the light theme and in the dark one the system asks for; no view is wider
    than a 1024 px window (wide tables and graphs scroll inside their own box)."""
    source = axe_source()
    ns = world.namespace
    if theme == "dark":
        browser.execute_cdp_cmd(
            "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]}
        )
    browser.set_window_size(1024, 900)
    browser.get(world.ferris.stack.server_url + "/")
    waiting(browser, 30).until(ready.visibility_of_element_located((By.ID, "token")))
    found: dict[str, list[str]] = {"login": axe_violations(browser, source)}
    wait = log_in(browser, world, account)
    base = f"{world.ferris.stack.server_url}/#"
    views = {
        "overview": ("/", "namespaces"),
        "packages": (f"/ns/{ns}", "runs-link"),
        "package": (f"/ns/{ns}/packages/formed", "durations"),
        "run": (f"/ns/{ns}/runs/{world.run}", "timeline"),
        "runs": (f"/ns/{ns}/runs", "runs-filter"),
        "events": (f"/ns/{ns}/events", "view"),
        "secret writes": (f"/ns/{ns}/secrets", "view"),
        "chains": (f"/ns/{ns}/chains", "chain-graph"),
    }
    for name, (path, ready_id) in views.items():
        browser.get(base + path)
        wait.until(ready.presence_of_element_located((By.ID, ready_id)))
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#view > *"))
        time.sleep(0.3)  # the last draw settles
        found[name] = axe_violations(browser, source)
        wide = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
        if wide[0] > wide[1]:
            found[name].append(f"the page is {wide[0]} px wide in a {wide[1]} px window")
        keep(browser, f"a11y-{account}-{theme}-{name.replace(' ', '-')}")
    assert not any(found.values()), json.dumps({k: v for k, v in found.items() if v}, indent=1)


def test_a_person_gets_from_the_overview_to_a_run_with_the_keyboard_alone(world: World, browser: WebDriver) -> None:
    """Tab to the namespace, Enter; Tab to the package, Enter; Tab to its newest run, Enter."""
    from selenium.webdriver.common.keys import Keys

    wait = log_in(browser, world, "viewer")
    browser.get(world.ferris.stack.server_url + "/#/")
    wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, "#namespaces a")))

    def tab_to(text: str) -> None:
        for _ in range(60):
            browser.switch_to.active_element.send_keys(Keys.TAB)
            if browser.switch_to.active_element.text == text:
                browser.switch_to.active_element.send_keys(Keys.ENTER)
                return
        raise AssertionError(f"no link {text!r} reached with Tab")

    browser.find_element(By.TAG_NAME, "body").click()
    tab_to(world.namespace)
    wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, 'tr[data-package="formed"]')))
    tab_to("formed")
    wait.until(ready.presence_of_element_located((By.ID, "durations")))
    tab_to(world.run)
    wait.until(lambda d: d.current_url.endswith(f"/runs/{world.run}"))
    wait.until(ready.presence_of_element_located((By.ID, "timeline")))


def test_a_viewer_finds_their_namespace_on_the_first_screen_and_no_other(world: World, browser: WebDriver) -> None:
    """Without typing a namespace: the overview names the viewer's namespace (a ServiceAccount's
    own), with its packages and runs, and never a namespace holding packages they may not read."""
    hidden = "console-hidden-" + uuid.uuid4().hex[:6]
    world.ferris.kubectl("create", "namespace", hidden)
    world.ferris.package(hidden, "secret-plans", "print(1)\n")
    wait = log_in(browser, world, "viewer")
    browser.execute_script("localStorage.clear()")  # nothing remembered: the server finds it
    browser.get(world.ferris.stack.server_url + "/#/")
    # Read inside waits: the page may be drawn again under the test (waiting() looks again).
    named = wait.until(
        lambda d: (
            [r.get_attribute("data-namespace") for r in d.find_elements(By.CSS_SELECTOR, "#namespaces tbody tr")]
            or None
        )
    )
    assert named == [world.namespace]
    packages = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#namespaces tbody tr td.count").text)
    assert int(packages) >= 2  # formed and manual, and whatever other tests added
    assert browser.find_element(By.ID, "overview-failed") and browser.find_element(By.ID, "overview-running")
    assert hidden not in browser.page_source and "secret-plans" not in browser.page_source
    keep(browser, "viewer-overview")
    wait.until(ready.element_to_be_clickable((By.LINK_TEXT, world.namespace))).click()
    wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, 'tr[data-package="formed"]')))


def test_a_viewer_sees_a_runs_timeline_a_packages_durations_and_scripts_and_the_chain_graph(
    world: World, browser: WebDriver
) -> None:
    """extract (scheduled) ends, and a FerrisTrigger starts load: the run page draws extract's
    step as a bar after its wait; extract's page charts its runs, shows its script with line
    numbers, its next five times and what it starts; the namespace's chain graph draws both
    packages, the trigger as an arrow with its filter on hover, and a clock on extract."""
    ns = world.namespace
    script = "import time\ntime.sleep(1)\nprint('extracted')\n"
    world.ferris.package(ns, "extract", script, schedule={"crons": ["0 0 1 1 *"]})
    world.ferris.package(ns, "load", "print('loaded')\n")
    on_success = {
        "type": "io.ferris.run.finished.v1",
        "subject": "extract",
        "data": [{"path": "outcome.phase", "equals": "Succeeded"}],
    }
    world.apply("FerrisTrigger", "after-extract", {"filter": on_success, "targets": [{"packageRef": {"name": "load"}}]})
    for name in ("extract", "load"):
        world.ferris.wait_condition(ns, "ferrispackage", name, "Ready")
    world.ferris.wait_condition(ns, "ferristrigger", "after-extract", "Listening")
    run = world.ferris.create_run(ns, "extract")
    assert world.ferris.wait_run(ns, run)["status"]["phase"] == "Succeeded"
    wait = log_in(browser, world, "viewer")
    base = f"{world.ferris.stack.server_url}/#/ns/{ns}"
    browser.get(f"{base}/runs/{run}")
    bars = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#timeline rect") or None)
    assert [b.get_attribute("class") for b in bars] == ["bar bar-Waiting", "bar bar-Succeeded"]
    step = browser.find_element(By.CSS_SELECTOR, "#timeline rect.bar-Succeeded title").get_attribute("textContent")
    took = re.fullmatch(r"1: main\.py: Succeeded, ([0-9.]+) s \(from 20\d\d-.*Z\)", step)
    assert took and 1.0 <= float(took[1]) < 10, step  # the script slept a second (times are kept to the second)
    keep(browser, "viewer-run-timeline")
    browser.get(f"{base}/packages/extract")
    facts = wait.until(ready.presence_of_element_located((By.ID, "durations-facts")))
    assert re.fullmatch(r"1 ended runs: 100% succeeded · p50 [0-9.]+ s · p95 [0-9.]+ s", facts.text), facts.text
    assert len(browser.find_elements(By.CSS_SELECTOR, "#durations rect.bar-Succeeded")) == 1
    lines = browser.find_elements(By.CSS_SELECTOR, 'details[data-script="main.py"] ol.source li')
    assert [li.text for li in lines] == script.strip().split("\n")
    assert browser.find_element(By.CSS_SELECTOR, '#starts li[data-trigger="after-extract"]').text.startswith("load")
    facts = browser.find_elements(By.CSS_SELECTOR, "#schedule dd")
    nexts = facts[2].text.split(", ")  # Crons, Next run, then the five after now
    assert [t[4:] for t in nexts] == ["-01-01T00:00:00Z"] * 5 and nexts == sorted(nexts)  # one a year
    keep(browser, "viewer-package-page")
    browser.get(f"{base}/packages/load")
    starter = wait.until(
        ready.presence_of_element_located((By.CSS_SELECTOR, '#started-by li[data-trigger="after-extract"]'))
    )
    assert starter.text.startswith("extract through after-extract on Succeeded")
    browser.get(f"{base}/chains")
    edge = wait.until(
        ready.presence_of_element_located((By.CSS_SELECTOR, '#chain-graph path[data-trigger="after-extract"]'))
    )
    assert (edge.get_attribute("data-from"), edge.get_attribute("data-to")) == ("extract", "load")
    hover = edge.find_element(By.TAG_NAME, "title").get_attribute("textContent")
    assert hover.startswith("after-extract: on Succeeded, type=io.ferris.run.finished.v1, subject=extract")
    assert browser.find_elements(By.CSS_SELECTOR, '#chain-graph g[data-node="load"]')
    assert browser.find_elements(By.CSS_SELECTOR, '#chain-graph [data-clock="extract"]')
    assert not browser.find_elements(By.CSS_SELECTOR, '#chain-graph [data-clock="load"]')
    keep(browser, "viewer-chain-graph")
    browser.find_element(By.CSS_SELECTOR, '#chain-graph g[data-node="load"] a').click()
    wait.until(lambda d: d.current_url.endswith("/packages/load"))
    kubeconfig = world.ferris.stack.cluster.service_account_kubeconfig(ns, "viewer", hours=1)
    printed = world.ferris.ferris("chains", "-n", ns, "--kubeconfig", str(kubeconfig))  # the same, in a terminal
    assert printed.returncode == 0, printed.stderr
    assert any(
        line.split()[:4] == ["after-extract", "extract", "load", "Succeeded"] for line in printed.stdout.splitlines()
    )


TICKER = "import time\nfor i in range(20):\n    print(f'tick {i} {time.time():.3f}', flush=True)\n    time.sleep(1)\n"


def test_a_viewer_watches_a_running_steps_output_line_by_line(world: World, browser: WebDriver) -> None:
    """A step printing a line a second: each line is on the run's page within 3 s of its
    print, appended in place (not the page drawn again); at the step's end, the whole output."""
    world.apply("FerrisPackage", "ticker", {"scripts": [{"name": "main.py", "content": TICKER}]})
    world.ferris.wait_condition(world.namespace, "ferrispackage", "ticker", "Ready")
    wait = log_in(browser, world, "viewer")
    run = world.ferris.create_run(world.namespace, "ticker")
    browser.get(f"{world.ferris.stack.server_url}/#/ns/{world.namespace}/runs/{run}")
    live = waiting(browser, 90).until(ready.presence_of_element_located((By.ID, "live-output")))
    seen: dict[str, float] = {}
    deadline = time.monotonic() + 60
    while len(seen) < 8 and time.monotonic() < deadline:  # lines as they appear in the element, every 0.1 s
        for line in live.text.splitlines():
            if line.startswith("tick ") and line not in seen:
                seen[line] = time.time()
        time.sleep(0.1)
    keep(browser, "viewer-live-output")
    assert len(seen) == 8, f"the page showed {sorted(seen)} of a step printing a line a second"
    lags = sorted(at - float(line.split()[2]) for line, at in seen.items())
    assert lags[-1] < 3.0, f"lines reached the page {lags} s after their print"
    wait.until(lambda d: d.find_element(By.ID, "run-phase").text == "Succeeded")
    output = browser.find_element(By.CLASS_NAME, "step-output").text
    assert [line.split()[1] for line in output.splitlines()] == [str(i) for i in range(20)]


def test_a_viewer_is_offered_no_cancel_button(world: World, browser: WebDriver) -> None:
    page = sleeping_run(world)
    wait = log_in(browser, world, "viewer")
    browser.get(page)
    wait.until(ready.presence_of_element_located((By.ID, "run-phase")))
    wait.until(
        lambda d: d.find_elements(By.CLASS_NAME, "phase-Pending") or d.find_elements(By.CLASS_NAME, "phase-Running")
    )
    assert not browser.find_elements(By.ID, "cancel"), "a viewer is offered Cancel"


def test_an_editor_cancels_a_running_run_from_its_page(world: World, browser: WebDriver) -> None:
    page = sleeping_run(world)
    wait = log_in(browser, world, "editor")
    browser.get(page)
    wait.until(ready.element_to_be_clickable((By.ID, "cancel"))).click()
    waiting(browser, 90).until(lambda d: d.find_element(By.ID, "run-phase").text == "Cancelled")
    keep(browser, "editor-cancelled")
    assert not browser.find_elements(By.ID, "cancel")


def test_an_editor_runs_the_package_with_the_form_and_watches_it_finish(world: World, browser: WebDriver) -> None:
    wait = log_in(browser, world, "editor")
    wait.until(ready.presence_of_element_located((By.LINK_TEXT, "formed"))).click()
    form = wait.until(ready.presence_of_element_located((By.ID, "run-form")))
    form.find_element(By.CSS_SELECTOR, 'input[type=radio][value="us"]').click()
    retries = form.find_element(By.NAME, "retries")
    retries.clear()
    retries.send_keys("3")
    form.find_element(By.NAME, "dry_run").click()
    keep(browser, "editor-run-form")
    form.find_element(By.ID, "run").click()
    wait.until(lambda d: "/runs/" in d.current_url)
    waiting(browser, 120).until(lambda d: d.find_element(By.ID, "run-phase").text == "Succeeded")
    output = waiting(browser, 30).until(
        lambda d: next((p for p in d.find_elements(By.CLASS_NAME, "step-output") if "region" in p.text), None)
    )
    assert "region us retries 3 dry True" in output.text and "token ****" in output.text
    keep(browser, "editor-finished-run")
    # Run it again with one param changed: the form holds what the run started with.
    rerun = wait.until(ready.presence_of_element_located((By.ID, "rerun-form")))
    assert rerun.find_element(By.CSS_SELECTOR, 'input[type=radio][value="us"]').is_selected()
    retries = rerun.find_element(By.NAME, "retries")
    assert retries.get_attribute("value") == "3"
    retries.clear()
    retries.send_keys("2")
    first = browser.current_url
    rerun.find_element(By.ID, "rerun").click()
    wait.until(lambda d: d.current_url != first)
    rerun_name = browser.current_url.rsplit("/", 1)[1]
    # The first run's page stays up until the new run's is drawn: wait for the new one.
    waiting(browser, 60).until(lambda d: d.find_element(By.CSS_SELECTOR, "#view h1").text == f"Run {rerun_name}")
    waiting(browser, 120).until(lambda d: d.find_element(By.ID, "run-phase").text == "Succeeded")
    again = waiting(browser, 30).until(
        lambda d: next((p for p in d.find_elements(By.CLASS_NAME, "step-output") if "region" in p.text), None)
    )
    assert "region us retries 2 dry True" in again.text
    keep(browser, "editor-rerun")
    retries_too_many = browser.current_url.split("/runs/")[0] + "/packages/formed"
    browser.get(retries_too_many)
    form = wait.until(ready.presence_of_element_located((By.ID, "run-form")))
    retries = form.find_element(By.NAME, "retries")
    retries.clear()
    retries.send_keys("9")
    form.find_element(By.ID, "run").click()
    error = wait.until(lambda d: d.find_element(By.ID, "run-error").text or None)
    assert "param retries must be at most 3, got 9" in error
    keep(browser, "editor-refused-params")
    time.sleep(0.2)
    assert world.canary not in browser.page_source


@contextlib.contextmanager
def ferris_console(env: dict[str, str]) -> Iterator[str]:
    """`ferris console --no-browser` with ``env``, as a user starts it: the URL it prints; the
    proxy is stopped on the way out."""
    console = subprocess.Popen(
        [FERRIS, "console", "--port", "0", "--no-browser"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert console.stdout is not None
        line = console.stdout.readline()
        url = line.rsplit(" ", 1)[-1].strip()
        assert url.startswith("http://127.0.0.1:"), line
        yield url
    finally:
        os.killpg(console.pid, signal.SIGTERM)
        console.wait(timeout=30)


def test_ferris_console_logs_in_with_the_kubeconfig_and_lets_in_only_its_own_browser(
    world: World, browser: WebDriver
) -> None:
    env = {k: v for k, v in world.ferris.stack.env().items() if k != "FERRIS_DATABASE_URL"}
    with ferris_console(env) as url:
        assert "?session=" in url
        origin = url.split("/?", 1)[0]
        with pytest.raises(urllib.error.HTTPError) as stranger:
            urllib.request.urlopen(origin + "/api/v1/self", timeout=10)
        assert stranger.value.code == 401
        browser.get(url)  # the one-off URL: a cookie for this browser only
        wait = waiting(browser, 30)
        wait.until(lambda d: d.find_element(By.ID, "user").text == "ferris-admin")
        browser.get(f"{origin}/#/ns/{world.namespace}")
        row = wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, 'tr[data-package="formed"]')))
        assert row.find_element(By.CLASS_NAME, "secret-names").text == "TOKEN"
        with pytest.raises(urllib.error.HTTPError) as second:  # another browser with the same link
            urllib.request.urlopen(url, timeout=10)
        assert second.value.code == 401 and b"used already" in second.value.read()
        cookie = browser.get_cookie("ferris-console")
        assert cookie is not None and cookie["value"] not in url and cookie["httpOnly"]
        session = {"Cookie": f"ferris-console={cookie['value']}"}
        me = json.loads(urllib.request.urlopen(urllib.request.Request(origin + "/api/v1/self", headers=session)).read())
        assert me["name"] == "ferris-admin"
        port = origin.rsplit(":", 1)[1]
        rebound = urllib.request.Request(origin + "/api/v1/self", headers={**session, "Host": f"evil.example:{port}"})
        with pytest.raises(urllib.error.HTTPError) as rebinding:  # a DNS-rebinding page names its own host
            urllib.request.urlopen(rebound, timeout=10)
        assert rebinding.value.code == 421
        forged = urllib.request.Request(
            f"{origin}/api/v1/namespaces/{world.namespace}/runs",
            data=json.dumps({"package": "formed"}).encode(),
            headers={**session, "Content-Type": "application/json", "Origin": "https://evil.example"},
            method="POST",
        )
        with pytest.raises(urllib.error.HTTPError) as cross_site:
            urllib.request.urlopen(forged, timeout=10)
        assert cross_site.value.code == 403
        keep(browser, "ferris-console-packages")


def test_a_page_asked_for_earlier_never_draws_over_the_one_asked_for_last(world: World, browser: WebDriver) -> None:
    wait = log_in(browser, world, "viewer")
    wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, 'tr[data-package="formed"]')))
    # The namespace's package list is held until the package page, asked for after it, has been
    # drawn; then it is let go. Every title the view shows is recorded, and the moment the held
    # answer has been read: each step waits for an event, none for a sleep long enough on an idle
    # machine (a busy one drew the pages in another order).
    browser.execute_script(
        """const [namespace] = arguments, real = window.fetch;
        window.titles = [];
        window.held = [];
        new MutationObserver(() => {
          const h1 = document.querySelector("#view h1");
          if (h1 && window.titles[window.titles.length - 1] !== h1.textContent) window.titles.push(h1.textContent);
        }).observe(document.getElementById("view"), {childList: true, subtree: true, characterData: true});
        window.fetch = (path, options) => path.endsWith(`/namespaces/${namespace}/packages`)
          ? new Promise((release) => window.held.push(release)).then(() => real(path, options)).then((answer) => {
              answer.clone().text().then(() => setTimeout(() => { window.slowRead = true; }, 0));
              return answer;
            })
          : real(path, options);
        location.hash = `#/ns/${namespace}/events`;""",
        world.namespace,
    )
    wait.until(lambda d: d.execute_script("return window.titles.length > 0"))  # another page first
    browser.execute_script("location.hash = arguments[0]", f"#/ns/{world.namespace}")
    wait.until(lambda d: d.execute_script("return window.held.length > 0"))  # the list is asked for
    browser.execute_script("location.hash = arguments[0]", f"#/ns/{world.namespace}/packages/formed")
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#view h1").text == "Package formed")
    browser.execute_script("window.held.forEach((release) => release())")  # the earlier answer arrives last
    wait.until(lambda d: d.execute_script("return window.slowRead === true"))
    titles = browser.execute_async_script(  # two frames after the slow answer was read: drawn by now
        "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(() => done(window.titles)));"
    )
    assert titles[-1] == "Package formed", titles
    assert browser.find_element(By.CSS_SELECTOR, "#view h1").text == "Package formed"


def test_an_editor_uploads_secrets_sees_only_names_and_the_next_run_uses_them(
    world: World, browser: WebDriver, tmp_path: Path
) -> None:
    document = tmp_path / "secrets.json"
    document.write_text(json.dumps({"TOKEN": world.canary, "OTHER": "another-long-value"}))
    wait = log_in(browser, world, "editor")
    browser.get(f"{world.ferris.stack.server_url}/#/ns/{world.namespace}/packages/manual")
    wait.until(ready.presence_of_element_located((By.ID, "secrets-file"))).send_keys(str(document))
    browser.find_element(By.ID, "upload").click()
    result = wait.until(lambda d: d.find_element(By.ID, "upload-result").text or None)
    assert result.startswith("Stored 2 secrets at version") and result.endswith("OTHER, TOKEN"), result
    keep(browser, "editor-uploaded-secrets")
    assert world.canary not in browser.page_source
    browser.refresh()
    wait.until(lambda d: "OTHER, TOKEN" in d.find_element(By.CLASS_NAME, "secret-names").text)
    browser.find_element(By.ID, "run").click()
    waiting(browser, 120).until(lambda d: d.find_element(By.ID, "run-phase").text == "Succeeded")
    output = waiting(browser, 30).until(
        lambda d: next((p for p in d.find_elements(By.CLASS_NAME, "step-output") if "token" in p.text), None)
    )
    assert "token ****" in output.text and world.canary not in browser.page_source


def test_a_viewer_sees_the_namespaces_events_and_follows_one_to_the_run_it_started(
    world: World, browser: WebDriver
) -> None:
    ferris = world.ferris
    world.apply(
        "FerrisTrigger",
        "on-ping",
        {"filter": {"type": "com.example.ping"}, "targets": [{"packageRef": {"name": "manual"}}]},
    )
    ferris.wait_condition(world.namespace, "ferristrigger", "on-ping", "Listening")
    sent = ferris.ferris("send-event", "-n", world.namespace, "--type", "com.example.ping", "--id", "ping-1")
    assert sent.returncode == 0, sent.stderr
    [run] = json.loads(sent.stdout)["runs"]
    wait = log_in(browser, world, "viewer")
    wait.until(ready.presence_of_element_located((By.ID, "events-link"))).click()
    row = wait.until(
        ready.presence_of_element_located((By.XPATH, "//tr[td[@class='event-type' and text()='com.example.ping']]"))
    )
    keep(browser, "viewer-events")
    row.find_element(By.LINK_TEXT, run).click()
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#view h1").text == f"Run {run}")


def test_a_viewer_sees_which_secrets_scripts_wrote_and_where_a_runs_secrets_came_from(
    world: World, browser: WebDriver
) -> None:
    ferris = world.ferris
    world.apply("FerrisProjectSecrets", "project", {"writers": [{"package": "refresher"}]})
    ferris.wait_condition(world.namespace, "ferrisprojectsecrets", "project", "SecretsStored")
    script = "from ferris_ef import context\nprint(context.secrets.set('REFRESHED', 'r-' + 'x' * 12, 'project'))\n"
    ferris.package(world.namespace, "refresher", script)
    ferris.wait_condition(world.namespace, "ferrispackage", "refresher", "Ready")
    writer = ferris.create_run(world.namespace, "refresher")
    assert ferris.wait_run(world.namespace, writer)["status"]["phase"] == "Succeeded"
    reader = ferris.create_run(world.namespace, "formed", params={"region": "eu"})
    assert ferris.wait_run(world.namespace, reader)["status"]["phase"] == "Succeeded"

    wait = log_in(browser, world, "viewer")
    wait.until(ready.presence_of_element_located((By.ID, "secrets-link"))).click()
    row = wait.until(
        ready.presence_of_element_located((By.XPATH, "//tr[td[@class='secret-name' and text()='REFRESHED']]"))
    )
    assert row.find_element(By.CLASS_NAME, "scope").text == "project"
    assert row.find_element(By.CLASS_NAME, "outcome").text == "written"
    keep(browser, "viewer-secret-writes")
    row.find_element(By.LINK_TEXT, writer).click()
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#view h1").text == f"Run {writer}")
    browser.get(f"{ferris.stack.server_url}/#/ns/{world.namespace}/runs/{reader}")
    scope = wait.until(
        ready.presence_of_element_located((By.CSS_SELECTOR, "tr[data-secret='REFRESHED'] td.secret-scope"))
    )
    assert scope.text == "project"
    token = browser.find_element(By.CSS_SELECTOR, "tr[data-secret='TOKEN'] td.secret-scope")
    assert token.text == "package"
    keep(browser, "viewer-run-secret-sources")


XSS = '<img src=x onerror="window.__xss=1">'


def test_what_scripts_senders_and_uploaders_write_is_shown_as_text_never_as_markup(
    world: World, browser: WebDriver
) -> None:
    """The console puts text in with textContent only: a step's output, an event's source, a
    package's params, description and script, and a trigger's filter in the chain graph that hold
    markup show as text and make no element (the
    CSP would block the handler anyway: the check is that no img element exists at all)."""
    ns = world.namespace
    world.ferris.package(ns, "xss", f"print({XSS!r})\n", params={"note": XSS}, description=XSS)
    world.ferris.wait_condition(ns, "ferrispackage", "xss", "Ready")
    marked = {"source": f"/x/{XSS}", "subject": XSS}
    world.apply("FerrisTrigger", "xss-trigger", {"filter": marked, "targets": [{"packageRef": {"name": "xss"}}]})
    run = world.ferris.create_run(ns, "xss")
    assert world.ferris.wait_run(ns, run)["status"]["phase"] == "Succeeded"
    event = ["send-event", "-n", ns, "--type", "com.example.x", "--source", f"/x/{XSS}", "--subject", XSS]
    sent = world.ferris.ferris(*event, "--data", json.dumps({XSS: XSS}), "--wait", "5")
    assert sent.returncode == 0, sent.stderr
    wait = log_in(browser, world, "editor")
    base = f"{world.ferris.stack.server_url}/#/ns/{ns}"
    pages = ((f"/runs/{run}", "step-output"), ("/events", "events"), ("/packages/xss", "source"), ("/chains", "chains"))
    for page, shown in pages:
        browser.get(base + page)
        if shown == "events":
            wait.until(lambda d: "com.example.x" in d.find_element(By.TAG_NAME, "body").text)
        else:
            wait.until(ready.presence_of_element_located((By.CLASS_NAME, shown)))
        assert XSS in browser.find_element(By.TAG_NAME, "body").text, page
        assert browser.execute_script("return document.querySelectorAll('img[src=\"x\"]').length") == 0, page
        assert browser.execute_script("return window.__xss") is None, page
    keep(browser, "xss-as-text")
