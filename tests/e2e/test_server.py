"""The Ferris server on the local cluster: every route against every kind of caller, each one a
real Kubernetes identity (ServiceAccount tokens, client certificates, a group binding), decided
by the cluster's own RBAC; the CLI reads history through it without a database password."""

from __future__ import annotations

import http.client
import json
import ssl
import subprocess
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ferris_devcluster.pki import client_certificate, generate

from .conftest import FERRIS, Ferris
from .test_security import assert_clean

pytestmark = pytest.mark.cluster


@dataclass(frozen=True)
class Caller:
    name: str
    level: int  # 0 nobody, 1 authenticated elsewhere, 2 view in team-a, 3 edit in team-a
    token: str | None = None
    cert: tuple[Path, Path] | None = None


# Every route of the server: (method, path template) -> (path in the world, body, level needed).
ROUTES: dict[tuple[str, str], tuple[str, Any, int]] = {
    ("GET", "/api/v1/self"): ("/api/v1/self", None, 1),
    ("GET", "/api/v1/overview"): ("/api/v1/overview", None, 1),  # what it names: test_console's overview test
    ("GET", "/api/v1/namespaces/{namespace}/chains"): ("{namespace}/chains", None, 2),
    ("GET", "/api/v1/namespaces/{namespace}/permissions"): ("{permissions}", None, 1),
    ("GET", "/api/v1/namespaces/{namespace}/runs"): ("{runs}", None, 2),
    ("POST", "/api/v1/namespaces/{namespace}/runs"): ("{runs}", {"package": "hello", "params": {"who": "api"}}, 3),
    ("GET", "/api/v1/namespaces/{namespace}/runs/{name}"): ("{runs}/{run}", None, 2),
    ("GET", "/api/v1/namespaces/{namespace}/runs/{name}/steps/{index}/log"): ("{runs}/{run}/steps/0/log", None, 2),
    ("POST", "/api/v1/namespaces/{namespace}/runs/{name}/rerun"): ("{runs}/{run}/rerun", {"params": {"who": "re"}}, 3),
    ("POST", "/api/v1/namespaces/{namespace}/runs/{name}/cancel"): ("{runs}/{sleeper}/cancel", {}, 3),
    ("GET", "/api/v1/namespaces/{namespace}/packages"): ("{packages}", None, 2),
    ("GET", "/api/v1/namespaces/{namespace}/packages/{name}"): ("{packages}/hello", None, 2),
    ("PUT", "/api/v1/namespaces/{namespace}/packages/{name}/secrets"): ("{packages}/uploadable/secrets", "{upload}", 3),
    ("POST", "/api/v1/namespaces/{namespace}/events"): ("{events}", "{event}", 3),
    ("GET", "/api/v1/namespaces/{namespace}/events"): ("{events}", None, 2),
    ("GET", "/api/v1/namespaces/{namespace}/events/{seq}"): ("{events}/{seq}", None, 2),
    ("GET", "/api/v1/namespaces/{namespace}/secretwrites"): ("{namespace}/secretwrites", None, 2),
}


class World:
    def __init__(self, ferris: Ferris) -> None:
        self.ferris = ferris
        suffix = uuid.uuid4().hex[:6]
        self.team_a, self.team_b, self.team_c = (f"srv-{t}-{suffix}" for t in "abc")
        self.canary = "srv-c4n4ry-" + uuid.uuid4().hex
        self.bodies: list[str] = []
        self.sources = 0  # loopback addresses used by unauthenticated calls
        for namespace in (self.team_a, self.team_b, self.team_c):
            ferris.kubectl("create", "namespace", namespace)
        ferris.secret(self.team_a, "hello-source", json.dumps({"TOKEN": self.canary}))
        script = (
            "import sys, json\nfrom ferris_ef import get_secret\nprint('hello', json.loads(sys.argv[1]).get('who'))\n"
        )
        script += "print('token', get_secret('TOKEN'))\n"
        ferris.package(
            self.team_a, "hello", script, params={"who": "world"}, secretsFrom={"secretName": "hello-source"}
        )
        ferris.wait_condition(self.team_a, "ferrispackage", "hello", "Ready")
        ferris.package(self.team_a, "uploadable", script, params={"who": "upload"})  # no source: uploads allowed
        ferris.wait_condition(self.team_a, "ferrispackage", "uploadable", "Ready")
        self.run = ferris.create_run(self.team_a, "hello")
        assert ferris.wait_run(self.team_a, self.run)["status"]["phase"] == "Succeeded"
        ferris.package(self.team_a, "sleeper", "import time\ntime.sleep(300)\n")
        ferris.wait_condition(self.team_a, "ferrispackage", "sleeper", "Ready")
        self.sleeper = ferris.create_run(self.team_a, "sleeper")  # still going when the editors cancel it
        self.callers = self._callers(suffix)
        status, text = self.call(self.callers[-1], "POST", self.path("{events}"), new_event())
        assert status in (200, 202), text
        self.event_seq = json.loads(text)["seq"]

    def _callers(self, suffix: str) -> list[Caller]:
        bind = self.ferris.kubectl
        for namespace, account in ((self.team_a, "viewer"), (self.team_a, "editor"), (self.team_b, "stranger")):
            bind("create", "serviceaccount", account, "-n", namespace)
        bind("create", "serviceaccount", "member", "-n", self.team_c)
        for name, role, account, namespace in (
            ("v", "view", "viewer", self.team_a),
            ("e", "edit", "editor", self.team_a),
            ("e", "edit", "stranger", self.team_b),
        ):
            subject = f"--serviceaccount={namespace}:{account}"
            bind("create", "rolebinding", name, f"--clusterrole={role}", subject, "-n", namespace)
        # Through groups only: every ServiceAccount of team-c, and a group in a client certificate.
        group = f"system:serviceaccounts:{self.team_c}"
        bind("create", "rolebinding", "g", "--clusterrole=view", f"--group={group}", "-n", self.team_a)
        people = f"srv-viewers-{suffix}"
        bind("create", "rolebinding", "p", "--clusterrole=view", f"--group={people}", "-n", self.team_a)
        pki = self.ferris.stack.cluster.directory / "pki"
        cert = client_certificate(pki, f"ada-{suffix}", (people,), self.ferris.stack.directory / "users")
        admin = (pki / "admin.crt", pki / "admin.key")

        def token(namespace: str, account: str) -> str:
            return self.ferris.kubectl("create", "token", account, "-n", namespace).stdout.strip()

        return [
            Caller("nobody", 0),
            Caller("a made-up token", 0, token="made-up"),
            Caller("an editor of another namespace", 1, token=token(self.team_b, "stranger")),
            Caller("a viewer", 2, token=token(self.team_a, "viewer")),
            Caller("a viewer through a ServiceAccount group", 2, token=token(self.team_c, "member")),
            Caller("a viewer by client certificate and group", 2, cert=cert),
            Caller("an editor", 3, token=token(self.team_a, "editor")),
            Caller("the cluster admin by client certificate", 3, cert=admin),
        ]

    def call(
        self, caller: Caller, method: str, path: str, body: Any = None, extra: dict[str, str] | None = None
    ) -> tuple[int, str]:
        stack = self.ferris.stack
        context = ssl.create_default_context(cafile=str(stack.server_tls_dir / "ca.crt"))
        if caller.cert:
            context.load_cert_chain(str(caller.cert[0]), str(caller.cert[1]))
        headers = (
            {"Content-Type": "application/cloudevents+json"} if method == "POST" and path.endswith("/events") else {}
        )
        if body is not None:
            headers.setdefault("Content-Type", "application/json")  # as the CLI and the console send it
        headers |= extra or {}
        if caller.token:
            headers["Authorization"] = f"Bearer {caller.token}"
        # The server refuses an address after a burst of failed authentications (ratelimit.py):
        # each unauthenticated call comes from a loopback address of its own, so that the many
        # made here neither block the other callers nor themselves.
        source = None
        if caller.level == 0:
            self.sources += 1
            source = (f"127.0.{self.sources // 250}.{self.sources % 250 + 2}", 0)
        connection = http.client.HTTPSConnection(
            "127.0.0.1", int(stack.server_url.rsplit(":", 1)[1]), context=context, timeout=30, source_address=source
        )
        try:
            connection.request(method, path, None if body is None else json.dumps(body), headers)
            response = connection.getresponse()
            status, text = response.status, response.read().decode()
        finally:
            connection.close()
        self.bodies.append(text)
        return status, text

    def path(self, template: str) -> str:
        runs = f"/api/v1/namespaces/{self.team_a}/runs"
        packages = f"/api/v1/namespaces/{self.team_a}/packages"
        permissions = f"/api/v1/namespaces/{self.team_a}/permissions"
        events = f"/api/v1/namespaces/{self.team_a}/events"
        seq = getattr(self, "event_seq", 0)
        return template.format(
            runs=runs,
            packages=packages,
            run=self.run,
            sleeper=self.sleeper,
            permissions=permissions,
            events=events,
            seq=seq,
            namespace=f"/api/v1/namespaces/{self.team_a}",
        )


def new_event() -> dict[str, Any]:
    return {"specversion": "1.0", "id": uuid.uuid4().hex, "source": "/srv", "type": "com.example.ping", "data": {}}


@pytest.fixture(scope="module")
def world(ferris: Ferris) -> World:
    return World(ferris)


def test_the_route_table_is_the_servers(world: World) -> None:
    status, text = world.call(world.callers[-1], "GET", "/api/v1/openapi.json")
    assert status == 200
    served = {(method.upper(), path) for path, ops in json.loads(text)["paths"].items() for method in ops}
    assert served == set(ROUTES)


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_every_route_answers_each_caller_as_rbac_says(world: World, route: tuple[str, str]) -> None:
    template, body, needed = ROUTES[route]
    answers = {}
    for caller in world.callers:
        if body == "{upload}":
            body = {"TOKEN": world.canary}
        if template == "{events}" and route[0] == "POST":
            body = new_event()
        status, text = world.call(caller, route[0], world.path(template), body)
        answers[caller.name] = status
        if caller.level == 0:
            assert status == 401, (caller.name, text)
        elif caller.level < needed:
            assert status == 403, (caller.name, text)
            assert "may not" in json.loads(text)["error"]
        elif route[1].endswith("/cancel"):  # the first editor cancels it; for the next one it has ended
            assert status in (202, 409), (caller.name, text)
        else:
            assert status in (200, 201, 202), (caller.name, text)
    assert len(answers) == len(world.callers)


def test_history_a_full_output_and_the_user_who_asked(world: World) -> None:
    viewer, editor = world.callers[3], world.callers[6]
    status, text = world.call(viewer, "GET", world.path("{runs}/{run}"))
    run = json.loads(text)
    assert run["phase"] == "Succeeded" and run["steps"][0]["name"] == "main.py"
    status, text = world.call(viewer, "GET", world.path("{runs}/{run}/steps/0/log"))
    assert status == 200 and "hello world" in text and "token ****" in text
    status, text = world.call(editor, "POST", world.path("{runs}"), {"package": "hello", "params": {"who": "api"}})
    created = json.loads(text)["name"]
    assert world.ferris.wait_run(world.team_a, created)["status"]["phase"] == "Succeeded"
    # Pages of one run, each from the previous page's continue token: every run once, newest first.
    names, times, token = [], [], ""
    while True:
        query = "?package=hello&limit=1" + (f"&continue={token}" if token else "")
        status, text = world.call(viewer, "GET", world.path("{runs}" + query))
        page = json.loads(text)
        assert status == 200 and len(page["items"]) == 1, text
        names.append(page["items"][0]["name"])
        times.append(page["items"][0]["createdAt"])
        token = page["continue"]
        if not token:
            break
    assert created in names and world.run in names and len(names) == len(set(names))
    assert times == sorted(times, reverse=True)
    obj = world.ferris.get(world.team_a, "ferrisrun", created)
    assert obj["metadata"]["annotations"]["ferris.io/requested-by"] == f"system:serviceaccount:{world.team_a}:editor"
    assert world.ferris.wait_run(world.team_a, created)["status"]["phase"] == "Succeeded"
    status, text = world.call(viewer, "GET", world.path(f"{{runs}}/{created}/steps/0/log"))
    assert "hello api" in text


def test_the_cli_reads_history_through_the_server_without_a_database_password(world: World) -> None:
    env = {k: v for k, v in world.ferris.stack.env().items() if k != "FERRIS_DATABASE_URL"}
    runs = subprocess.run(
        [FERRIS, "runs", "-n", world.team_a, "--package", "hello"], env=env, capture_output=True, text=True, check=True
    )
    assert world.run in runs.stdout and "Succeeded" in runs.stdout
    oldest = subprocess.run(
        [FERRIS, "runs", "-n", world.team_a, "--order", "oldest", "--limit", "1"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert oldest.returncode == 0 and oldest.stdout.splitlines()[1].split()[0] == world.run, oldest.stdout  # the first
    logs = subprocess.run([FERRIS, "logs", world.run, "-n", world.team_a], env=env, capture_output=True, text=True)
    assert logs.returncode == 0 and "hello world" in logs.stdout, logs.stderr
    results = subprocess.run(
        [FERRIS, "results", world.run, "-n", world.team_a], env=env, capture_output=True, text=True
    )
    assert "=== step 1: main.py  Succeeded exit 0 ===" in results.stdout, results.stderr
    elsewhere = subprocess.run(
        [FERRIS, "results", world.run, "-n", world.team_b], env=env, capture_output=True, text=True
    )
    assert elsewhere.returncode == 1 and "no run" in elsewhere.stderr


def test_no_response_and_no_line_of_the_servers_log_holds_a_secret(world: World) -> None:
    """Every route called here, the ones that change things too (an upload of the canary itself,
    a run that prints it, a rerun, an event), so that what is searched does not depend on which
    tests ran before."""
    admin = world.callers[-1]
    own: list[str] = []
    for (method, _), (template, body, _) in ROUTES.items():
        if body == "{upload}":
            body = {"TOKEN": world.canary}
        if template == "{events}" and method == "POST":
            body = new_event()
        status, text = world.call(admin, method, world.path(template), body)
        # The sleeper may have been cancelled already by the route table's editor (same world).
        ended = template.endswith("/cancel") and status == 409 and "has ended" in text
        assert status in (200, 201, 202) or ended, (method, template, text)
        own.append(text)
    assert len(own) == len(ROUTES)
    assert_clean("the responses to every route", "\n".join(own), [world.canary])
    assert_clean("the server's responses", "\n".join(world.bodies), [world.canary])
    assert_clean("the server's log", world.ferris.stack.server_log.read_text(errors="replace"), [world.canary])


def test_ferris_logs_follows_a_running_step_to_its_end(world: World) -> None:
    ns = world.team_a
    world.ferris.package(ns, "slow", "import time\nprint('first', flush=True)\ntime.sleep(4)\nprint('last')\n")
    world.ferris.wait_condition(ns, "ferrispackage", "slow", "Ready")
    run = world.ferris.create_run(ns, "slow")
    world.ferris.kubectl(
        "wait", "-n", ns, f"ferrisrun/{run}", "--for=jsonpath={.status.phase}=Running", "--timeout=60s"
    )
    env = {k: v for k, v in world.ferris.stack.env().items() if k != "FERRIS_DATABASE_URL"}
    followed = subprocess.run(
        [FERRIS, "logs", run, "-n", ns, "-f"], env=env, capture_output=True, text=True, timeout=120
    )
    assert followed.returncode == 0 and followed.stdout == "first\nlast\n", followed.stdout + followed.stderr
    assert world.ferris.wait_run(ns, run)["status"]["phase"] == "Succeeded"


TICKER = (
    "import time\nfrom ferris_ef import get_secret\ntoken = get_secret('TOKEN')\n"
    "time.sleep(4)  # while ferris logs -f starts\n"
    "for i in range(20):\n"
    "    print(f'tick {i} {time.time():.3f}', flush=True)\n"
    "    if i == 4:  # the secret in two pieces, a second and a half apart\n"
    "        print(token[:9], end='', flush=True)\n"
    "        time.sleep(1.5)\n"
    "        print(token[9:] + ' said', flush=True)\n"
    "    time.sleep(1)\n"
)


def follow_lines(world: World, caller: Caller, path: str, offset: int, most: int | None) -> tuple[str, list[float]]:
    """A followed log as ``caller``, from ``offset``: its text and when each line came; cut off
    (closed) after ``most`` lines."""
    import time

    stack = world.ferris.stack
    context = ssl.create_default_context(cafile=str(stack.server_tls_dir / "ca.crt"))
    port = int(stack.server_url.rsplit(":", 1)[1])
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=60)
    text, came = "", []
    try:
        connection.request(
            "GET", f"{path}?follow=true&offset={offset}", headers={"Authorization": f"Bearer {caller.token}"}
        )
        response = connection.getresponse()
        assert response.status == 200, response.read()
        while most is None or len(came) < most:
            line = response.readline().decode()
            if not line:
                break
            text += line
            came.append(time.time())
    finally:
        connection.close()
    return text, came


def test_a_running_steps_output_is_followed_live_resumed_without_loss_and_masked(world: World) -> None:
    """A step printing a line a second: `ferris logs -f` (a least-privileged reader's token
    kubeconfig) shows each line within 3 s of its print; a viewer cut off after three lines
    asks again from what it read and, with the rest, has exactly the output stored at the end;
    the secret printed in two pieces is masked in every chunk."""
    import time

    from .actors import least_privileged, rule

    ns, viewer = world.team_a, world.callers[3]
    reader = least_privileged(
        world.ferris,
        ns,
        "log-reader",
        [rule("ferris.io", "ferrisruns", "get", "list"), rule("ferris.io", "ferrisruns/log", "get")],
    )
    world.ferris.secret(ns, "ticker-source", json.dumps({"TOKEN": world.canary}))
    world.ferris.package(ns, "ticker", TICKER, secretsFrom={"secretName": "ticker-source"})
    world.ferris.wait_condition(ns, "ferrispackage", "ticker", "Ready")
    run = world.ferris.create_run(ns, "ticker")
    world.ferris.kubectl(
        "wait", "-n", ns, f"ferrisrun/{run}", "--for=jsonpath={.status.phase}=Running", "--timeout=90s"
    )
    env = {k: v for k, v in world.ferris.stack.env().items() if k != "FERRIS_DATABASE_URL"}
    command = [FERRIS, "logs", run, "-n", ns, "-f", "--kubeconfig", str(reader.kubeconfig)]
    follower = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lags: list[float] = []

    def watch() -> None:  # each line as `ferris logs -f` prints it, while the viewer below reads too
        assert follower.stdout is not None
        for line in follower.stdout:
            if line.startswith("tick "):
                lags.append(time.time() - float(line.split()[2]))

    watcher = threading.Thread(target=watch)
    watcher.start()
    log = f"/api/v1/namespaces/{ns}/runs/{run}/steps/0/log"
    first, _ = follow_lines(world, viewer, log, 0, most=3)
    time.sleep(3)  # lines printed meanwhile are read on asking again, not lost
    rest, _ = follow_lines(world, viewer, log, len(first), most=None)
    assert follower.wait(timeout=60) == 0, follower.stderr.read() if follower.stderr else ""
    watcher.join(timeout=10)
    assert world.ferris.wait_run(ns, run)["status"]["phase"] == "Succeeded"
    status, stored = world.call(viewer, "GET", log)
    assert status == 200 and stored.count("tick ") == 20 and "**** said" in stored
    assert first + rest == stored, "a follower that asked again lost or repeated something"
    # Lines printed before the follower had started (a busy machine starts a CLI slowly) come at
    # once when it connects; from the fourth on, each is measured from its print.
    assert len(lags) == 20 and max(lags[3:]) < 3.0, f"lines reached ferris logs -f {lags} s after their print"
    assert_clean("the followed output", first + rest + stored, [world.canary, world.canary[:9]])


def test_ferris_overview_names_only_the_namespaces_its_user_may_read(ferris: Ferris, ns: str) -> None:
    """A least-privileged reader's token kubeconfig: its namespace with a failed run, and no word
    of a namespace whose package it may not read."""
    from .actors import least_privileged, rule

    hidden = "ov-hidden-" + uuid.uuid4().hex[:6]
    ferris.kubectl("create", "namespace", hidden)
    ferris.package(hidden, "secret-plans", "print(1)\n")
    reader = least_privileged(
        ferris,
        ns,
        "overview-reader",
        [rule("ferris.io", "ferrisruns", "list"), rule("ferris.io", "ferrispackages", "list")],
    )
    ferris.package(ns, "broken", "raise SystemExit(3)\n")
    ferris.wait_condition(ns, "ferrispackage", "broken", "Ready")
    run = ferris.create_run(ns, "broken")
    assert ferris.wait_run(ns, run)["status"]["phase"] == "Failed"
    shown = ferris.ferris("overview", "--kubeconfig", str(reader.kubeconfig))
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[2].split() == [ns, "1", "0", "0", "1", "0"], shown.stdout
    assert any(line.split()[:3] == [ns, run, "broken"] for line in lines), shown.stdout
    assert hidden not in shown.stdout and "secret-plans" not in shown.stdout


def test_uploaded_secrets_reach_the_next_run_and_no_kubernetes_object(world: World) -> None:
    editor = world.callers[6]
    status, text = world.call(editor, "PUT", world.path("{packages}/uploadable/secrets"), {"TOKEN": world.canary})
    assert status == 200 and json.loads(text)["names"] == ["TOKEN"]
    version = json.loads(text)["version"]  # other tests upload too: this one's Event is found by it
    assert_clean("the answer to an upload", text, [world.canary])
    package = world.ferris.get(world.team_a, "ferrispackage", "uploadable")
    assert package["status"]["secrets"]["source"] == "upload" and package["status"]["secrets"]["names"] == ["TOKEN"]
    editor_name = f"system:serviceaccount:{world.team_a}:editor"
    assert package["status"]["secrets"]["uploadedBy"] == editor_name
    said = [e["message"] for e in world.ferris.events(world.team_a, "uploadable") if e["reason"] == "SecretsUploaded"]
    mine = f"user {editor_name!r} uploaded 1 secrets (version {version}) through the Ferris server"
    assert mine in said, said
    run = world.ferris.create_run(world.team_a, "uploadable")
    assert world.ferris.wait_run(world.team_a, run)["status"]["phase"] == "Succeeded"
    status, text = world.call(editor, "GET", world.path(f"{{runs}}/{run}/steps/0/log"))
    assert "token ****" in text  # the uploaded value reached the script, masked in its output
    assert_clean(
        "cluster objects",
        world.ferris.kubectl("get", "all,secrets,configmaps,events,ferris", "-A", "-o", "yaml").stdout,
        [world.canary],
    )
    status, text = world.call(
        editor, "PUT", world.path("{packages}/hello/secrets"), {"TOKEN": "x" * 10}
    )  # a package with its own source refuses
    assert status == 409 and "spec.secretsFrom" in text


def test_a_cross_site_request_of_a_browser_holding_a_client_certificate_starts_nothing(world: World) -> None:
    """A page on another site can make a browser send a plain form or a text/plain fetch, with
    the cluster client certificate the browser holds; neither may start a run."""
    admin = world.callers[-1]
    assert admin.cert is not None
    runs = world.path("{runs}")
    before = len(world.ferris.read(world.team_a, "ferrisrun")["items"])
    text_plain = {"Content-Type": "text/plain"}
    status, text = world.call(admin, "POST", runs, {"package": "hello"}, text_plain)
    assert status == 415 and "send the body as JSON" in text
    foreign = {"Origin": "https://evil.example"}
    status, text = world.call(admin, "POST", runs, {"package": "hello"}, foreign)
    assert status == 403 and "not from https://evil.example" in text
    assert len(world.ferris.read(world.team_a, "ferrisrun")["items"]) == before


def test_a_viewer_asking_about_made_up_namespaces_is_bounded_and_nobody_else_is(world: World) -> None:
    """A real ServiceAccount token with `view` in one namespace asks /permissions about made-up
    namespaces (nine SubjectAccessReviews each): 429 after its own burst, while another viewer
    is answered as before."""
    account = "prober-" + uuid.uuid4().hex[:6]
    world.ferris.kubectl("create", "serviceaccount", account, "-n", world.team_a)
    subject = f"--serviceaccount={world.team_a}:{account}"
    world.ferris.kubectl("create", "rolebinding", account, "--clusterrole=view", subject, "-n", world.team_a)
    token = world.ferris.kubectl("create", "token", account, "-n", world.team_a).stdout.strip()
    prober = Caller("a prober with view", 2, token=token)
    answers = [world.call(prober, "GET", f"/api/v1/namespaces/made-up-{i}/permissions") for i in range(15)]
    statuses = [status for status, _ in answers]
    assert statuses[0] == 200 and statuses[-1] == 429, statuses
    assert "retry in" in answers[-1][1]
    viewer = next(c for c in world.callers if c.name == "a viewer")
    assert world.call(viewer, "GET", world.path("{permissions}"))[0] == 200


def test_a_client_certificate_from_another_ca_is_refused_whatever_it_claims(world: World, tmp_path: Path) -> None:
    """A certificate for ferris-admin in system:masters, signed by a CA the cluster does not trust:
    the handshake fails, or the request is 401; never an answer."""
    forged = generate(tmp_path / "foreign")
    caller = Caller("ferris-admin from a foreign CA", 0, cert=(forged.admin_cert, forged.admin_key))
    try:
        status, _ = world.call(caller, "GET", world.path("{runs}"))
    except (ssl.SSLError, ConnectionError) as refused:  # the server asks for its cluster's CA only
        assert "certificate" in str(refused).lower() or isinstance(refused, ConnectionError), refused
        return
    assert status == 401


def test_ferris_cancel_stops_a_running_run_for_who_may_patch_it(ferris: Ferris, ns: str) -> None:
    """As ServiceAccounts with token kubeconfigs: one that may only read runs is refused in one
    line; one that may also patch them cancels, and the run's pod is stopped at once (its script
    would sleep two minutes), the run Cancelled."""
    import time

    from .actors import least_privileged, rule

    reader = least_privileged(ferris, ns, "run-reader", [rule("ferris.io", "ferrisruns", "get", "list")])
    stopper = least_privileged(ferris, ns, "run-stopper", [rule("ferris.io", "ferrisruns", "get", "list", "patch")])
    ferris.package(ns, "slow", "import time\nprint('started', flush=True)\ntime.sleep(120)\n")
    ferris.wait_condition(ns, "ferrispackage", "slow", "Ready")
    run = ferris.create_run(ns, "slow")
    ferris.kubectl("wait", "-n", ns, f"ferrisrun/{run}", "--for=jsonpath={.status.phase}=Running", "--timeout=90s")
    refused = ferris.ferris("cancel", run, "-n", ns, "--kubeconfig", str(reader.kubeconfig))
    assert refused.returncode == 1 and "patch ferrisruns" in refused.stderr and "Traceback" not in refused.stderr
    assert not ferris.get(ns, "ferrisrun", run)["spec"].get("cancel")
    began = time.monotonic()
    done = ferris.ferris("cancel", run, "-n", ns, "--kubeconfig", str(stopper.kubeconfig))
    assert done.returncode == 0, done.stderr
    status = ferris.wait_run(ns, run, timeout=60)["status"]
    assert status["phase"] == "Cancelled" and time.monotonic() - began < 60
    again = ferris.ferris("cancel", run, "-n", ns, "--kubeconfig", str(stopper.kubeconfig))
    assert again.returncode == 1 and "has ended (Cancelled)" in again.stderr
