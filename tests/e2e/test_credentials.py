"""Every verb of the CLI, and `ferris console` in chromium, with every kind of kubeconfig a real
user has: a static ServiceAccount token, a token file, an exec credential plugin (which counts
its calls, so that refresh is seen), a client certificate from files and one inline. Each as a
`view` user of one namespace (reads its runs, is refused another's with 403, cannot start runs)
and as an `edit` user (starts a run and reads its output); `--as` as an administrator and as a
user who may not impersonate."""

from __future__ import annotations

import base64
import datetime
import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from ferris_devcluster.pki import client_certificate

from .conftest import FERRIS, Ferris
from .test_console import browser, ferris_console, waiting  # noqa: F401 - the browser fixture, shared

pytestmark = pytest.mark.cluster

KINDS = ["token", "token-file", "exec-plugin", "certificate-files", "certificate-data"]
SCRIPT = "import json, sys\nprint('hello', json.loads(sys.argv[1])['who'])\n"
# The client library makes an exec credential again five minutes before it expires: a plugin
# that says its token expires in 5 min 12 s is asked again after about 12 s.
REFRESH_AFTER = datetime.timedelta(minutes=5, seconds=12)


@dataclass(frozen=True)
class Identity:
    account: str  # the ServiceAccount, for tokens
    user: str  # the user in the client certificate
    cert: tuple[Path, Path]


class World:
    def __init__(self, ferris: Ferris, home: Path) -> None:
        self.ferris, self.home = ferris, home
        suffix = uuid.uuid4().hex[:6]
        self.namespace, self.other = f"cred-{suffix}", f"cred-other-{suffix}"
        for namespace in (self.namespace, self.other):
            ferris.kubectl("create", "namespace", namespace)
            ferris.package(namespace, "hello", SCRIPT, params={"who": namespace})
            ferris.wait_condition(namespace, "ferrispackage", "hello", "Ready")
        self.run = ferris.create_run(self.namespace, "hello")
        assert ferris.wait_run(self.namespace, self.run)["status"]["phase"] == "Succeeded"
        pki = ferris.stack.cluster.directory / "pki"
        self.identities = {}
        for role in ("view", "edit"):
            account, user = f"{role}er", f"cred-{role}er-{suffix}"
            ferris.kubectl("create", "serviceaccount", account, "-n", self.namespace)
            subjects = (f"--serviceaccount={self.namespace}:{account}", f"--user={user}")
            ferris.kubectl("create", "rolebinding", role, f"--clusterrole={role}", *subjects, "-n", self.namespace)
            self.identities[role] = Identity(account, user, client_certificate(pki, user, (), home / "users"))

    def token(self, role: str) -> str:
        account = self.identities[role].account
        return self.ferris.kubectl("create", "token", account, "-n", self.namespace, "--duration=1h").stdout.strip()

    def kubeconfig(
        self, kind: str, role: str, namespace: str | None = None, lifetime: datetime.timedelta = REFRESH_AFTER
    ) -> Path:
        """A kubeconfig of ``kind`` for the ``role`` user, as a person would have it."""
        identity, path = self.identities[role], self.home / f"{kind}-{role}-{uuid.uuid4().hex[:4]}.kubeconfig"
        user: dict[str, object]
        if kind == "token":
            user = {"token": self.token(role)}
        elif kind == "token-file":
            (tokens := path.with_suffix(".token")).write_text(self.token(role) + "\n")  # as `> file` leaves it
            user = {"tokenFile": str(tokens)}
        elif kind == "exec-plugin":
            user = {"exec": self.plugin(role, path.with_suffix(".calls"), lifetime)}
        elif kind == "certificate-files":
            user = {"client-certificate": str(identity.cert[0]), "client-key": str(identity.cert[1])}
        else:
            user = {
                "client-certificate-data": base64.b64encode(identity.cert[0].read_bytes()).decode(),
                "client-key-data": base64.b64encode(identity.cert[1].read_bytes()).decode(),
            }
        cluster = self.ferris.stack.cluster
        context = {"cluster": "local", "user": role, **({"namespace": namespace} if namespace else {})}
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "local",
                    "cluster": {
                        "server": cluster.server,
                        "certificate-authority": str(cluster.directory / "pki" / "ca.crt"),
                    },
                }
            ],
            "users": [{"name": role, "user": user}],
            "contexts": [{"name": f"{role}@local", "context": context}],
            "current-context": f"{role}@local",
        }
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return path

    def plugin(self, role: str, calls: Path, lifetime: datetime.timedelta) -> dict[str, object]:
        """An exec credential plugin that asks the cluster for a token (as a cloud's plugin asks
        its identity service) and counts its calls in ``calls``."""
        script = calls.with_suffix(".py")
        kubectl = [str(self.ferris.stack.cluster.bins["kubectl"]), f"--kubeconfig={self.ferris.stack.kubeconfig}"]
        script.write_text(
            "import datetime, json, pathlib, subprocess\n"
            f"calls = pathlib.Path({str(calls)!r})\n"
            "calls.write_text(str(int(calls.read_text()) + 1 if calls.exists() else 1))\n"
            f"token = subprocess.run({kubectl!r} + ['create', 'token', {self.identities[role].account!r}, '-n',"
            f" {self.namespace!r}], capture_output=True, text=True, check=True).stdout.strip()\n"
            f"expiry = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds={lifetime.total_seconds()})\n"
            "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1beta1', 'kind': 'ExecCredential',"
            " 'status': {'token': token, 'expirationTimestamp': expiry.strftime('%Y-%m-%dT%H:%M:%SZ')}}))\n"
        )
        return {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": sys.executable, "args": [str(script)]}

    def env(self, kubeconfig: Path) -> dict[str, str]:
        """The CLI's environment with only this kubeconfig: no database URL, no admin."""
        env = {k: v for k, v in self.ferris.stack.env().items() if k not in ("FERRIS_DATABASE_URL",)}
        return {**env, "KUBECONFIG": str(kubeconfig)}

    def ferris_as(self, kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [FERRIS, *args], env=self.env(kubeconfig), capture_output=True, text=True, timeout=180, check=False
        )


@pytest.fixture(scope="module")
def world(ferris: Ferris, tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(ferris, tmp_path_factory.mktemp("credentials"))


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args[1:]}: {result.stderr}"
    return result.stdout


def refused(result: subprocess.CompletedProcess[str], *words: str) -> str:
    assert result.returncode != 0, f"{result.args[1:]} was not refused: {result.stdout}"
    assert "Traceback" not in result.stderr, f"{result.args[1:]}: a traceback instead of a message: {result.stderr}"
    assert not re.search(r"\b401\b(?!-)", result.stderr), (
        f"{result.args[1:]}: the credential was refused: {result.stderr}"
    )
    for word in words:
        assert word in result.stderr, f"{result.args[1:]}: {word!r} not in {result.stderr!r}"
    return result.stderr


@pytest.mark.parametrize("kind", KINDS)
def test_a_viewer_reads_its_namespace_and_is_refused_the_rest_with_every_kind_of_kubeconfig(
    world: World, kind: str
) -> None:
    config = world.kubeconfig(kind, "view", namespace=world.namespace)  # the context's namespace: no -n
    ns = ("-n", world.namespace)
    assert world.run in ok(world.ferris_as(config, "runs"))
    assert f"hello {world.namespace}" in ok(world.ferris_as(config, "results", world.run, *ns))
    assert f"hello {world.namespace}" in ok(world.ferris_as(config, "logs", world.run))
    ok(world.ferris_as(config, "events", *ns))
    ok(world.ferris_as(config, "secret-writes", *ns))
    ok(world.ferris_as(config, "schedules", *ns))  # through the API server, as the same user
    sealed = subprocess.run(
        [FERRIS, "seal", "-n", world.namespace, "--package", "hello"],
        env=world.env(config),
        input=json.dumps({"K": "v"}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ok(sealed).startswith("ferris-sealed:"), sealed.stdout[:40]
    refused(
        world.ferris_as(config, "runs", "-n", world.other),
        "403",
        f"list ferrisruns.ferris.io in namespace {world.other}",
    )
    refused(world.ferris_as(config, "send-event", *ns, "--type", "t", "--source", "/s"), "403", "create ferrisevents")
    refused(
        world.ferris_as(config, "run", "hello", *ns),
        "ferris run: the API server answered 403 Forbidden",
        "kubectl auth can-i",
    )


@pytest.mark.parametrize("kind", KINDS)
def test_an_editor_starts_a_run_and_reads_its_output(world: World, kind: str) -> None:
    config = world.kubeconfig(kind, "edit")
    ns = ("-n", world.namespace)
    created = ok(world.ferris_as(config, "run", "hello", *ns, "-p", f"who={kind}", "--wait"))
    name = created.split("ferrisrun.ferris.io/", 1)[1].split()[0]
    assert f"hello {kind}" in ok(world.ferris_as(config, "results", name, *ns))
    answer = json.loads(ok(world.ferris_as(config, "send-event", *ns, "--type", "t", "--source", "/s", "--wait", "5")))
    assert answer["seq"] > 0


def test_a_long_logs_follow_outlives_the_exec_plugins_first_token(world: World) -> None:
    steps = [
        (f"s{i}.py", f"import time\nfor n in range(4):\n    print('step {i}', n, flush=True)\n    time.sleep(2.5)\n")
        for i in range(2)
    ]
    world.ferris.package(world.namespace, "slow", steps)
    world.ferris.wait_condition(world.namespace, "ferrispackage", "slow", "Ready")
    # Its token "expires" (as the plugin says) 4 s after the CLI starts, while step 1 streams.
    config = world.kubeconfig("exec-plugin", "view", lifetime=datetime.timedelta(minutes=5, seconds=4))
    calls = config.with_suffix(".calls")
    run = world.ferris.create_run(world.namespace, "slow")
    deadline = time.monotonic() + 60
    while (world.ferris.get(world.namespace, "ferrisrun", run).get("status") or {}).get("phase") != "Running":
        assert time.monotonic() < deadline
        time.sleep(0.3)
    followed = world.ferris_as(config, "logs", run, "-n", world.namespace, "-f")
    output = ok(followed)
    assert all(f"step {i} 3" in output for i in range(2)), output
    assert int(calls.read_text()) >= 2, "the plugin was not asked again after its token expired"


def test_an_exec_plugin_that_fails_is_named_with_its_own_words(world: World) -> None:
    config = world.kubeconfig("exec-plugin", "view")
    plugin = yaml.safe_load(config.read_text())["users"][0]["user"]["exec"]["args"][0]
    Path(plugin).write_text("import sys\nsys.stderr.write('your session expired: log in again')\nsys.exit(4)\n")
    error = refused(world.ferris_as(config, "runs", "-n", world.namespace), "exec credential plugin")
    assert "your session expired: log in again" in error


def test_as_works_for_an_administrator_and_is_403_naming_the_right_for_others(world: World) -> None:
    admin = world.ferris.stack.kubeconfig
    viewer = f"system:serviceaccount:{world.namespace}:viewer"
    assert world.run in ok(world.ferris_as(admin, "runs", "-n", world.namespace, "--as", viewer))
    refused(world.ferris_as(admin, "runs", "-n", world.other, "--as", viewer), "403", f"user {viewer!r} may not")
    editor = f"system:serviceaccount:{world.namespace}:editor"
    error = refused(
        world.ferris_as(world.kubeconfig("token", "view"), "runs", "-n", world.namespace, "--as", editor), "403"
    )
    assert "may not impersonate" in error and "impersonate verb on serviceaccounts" in error


@pytest.fixture(params=KINDS)
def console(world: World, request: pytest.FixtureRequest) -> Iterator[tuple[str, str, Path]]:
    """`ferris console` as the viewer, with a kubeconfig of each kind: (URL, kind, the exec
    plugin's count of calls)."""
    config = world.kubeconfig(request.param, "view", namespace=world.namespace)
    with ferris_console(world.env(config)) as url:
        yield url, request.param, config.with_suffix(".calls")


def test_the_console_is_the_kubeconfigs_user_with_every_kind_and_outlives_an_exec_plugins_token(
    world: World,
    console: tuple[str, str, Path],
    browser: WebDriver,  # noqa: F811 - the fixture imported above
) -> None:
    url, kind, calls = console
    origin = url.split("/?", 1)[0]
    browser.get(url)
    wait = waiting(browser, 30)
    identity = world.identities["view"]
    who = identity.user if kind.startswith("certificate") else f"system:serviceaccount:{world.namespace}:viewer"
    wait.until(lambda d: d.find_element(By.ID, "user").text == who)
    first = int(calls.read_text()) if kind == "exec-plugin" else 0
    if kind == "exec-plugin":
        time.sleep(REFRESH_AFTER.seconds % 60 + 2)
    browser.get(f"{origin}/#/ns/{world.namespace}")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, 'tr[data-package="hello"]'))
    browser.get(f"{origin}/#/ns/{world.other}")  # another namespace: refused, as the viewer
    wait.until(lambda d: "may not" in d.find_element(By.TAG_NAME, "body").text)
    if kind == "exec-plugin":
        assert int(calls.read_text()) > first, "the console's credential was not made again after it expired"
