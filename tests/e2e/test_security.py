"""Every surface a secret could leak to is checked for a canary value."""

from __future__ import annotations

import base64
import json
import ssl
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import psycopg
import pytest

from tests.canaries import assert_no_canary

from .conftest import Ferris

pytestmark = pytest.mark.cluster


def assert_clean(surface: str, text: str, canaries: list[str]) -> None:
    """No canary in ``surface``, whatever encoded it (tests/canaries.py decodes before it searches)."""
    assert_no_canary(surface, text, canaries)


def every_object_as_yaml(ferris: Ferris) -> str:
    kinds = ferris.kubectl("api-resources", "--verbs=list", "-o", "name").stdout.split()
    return "\n".join(ferris.kubectl("get", kind, "-A", "-o", "yaml", check=False).stdout for kind in kinds)


def test_canaries_never_leave_the_run_pod(ferris: Ferris, ns: str) -> None:
    canary = "c4n4ry-" + uuid.uuid4().hex
    nested = "n3sted-" + uuid.uuid4().hex
    sealed_canary = "s3aled-" + uuid.uuid4().hex
    script = (
        "import json, sys\nfrom ferris_ef import context, get_secret\n"
        "context.state.put('refreshed_token', {'t': get_secret('CANARY')})\n"
        "assert context.state.get()['refreshed_token']['t'] == get_secret('CANARY')\n"
        "print('plain', get_secret('CANARY'))\nprint('nested', get_secret('NESTED'))\n"
        "print('argv', sys.argv[1])\nprint('json', json.dumps(get_secret('CANARY')))\n"
    )
    ferris.secret(ns, "canary-source", json.dumps({"CANARY": canary, "NESTED": {"inner": nested}}))
    ferris.package(ns, "canary", script, secretsFrom={"secretName": "canary-source"})
    sealed = ferris.ferris(
        "seal", "--namespace", ns, "--package", "canary-sealed", input=json.dumps({"CANARY": sealed_canary})
    )
    ferris.package(ns, "canary-sealed", script, sealedSecrets=sealed.stdout.strip())
    ferris.package(
        ns,
        "canary-failing",
        script + "raise SystemExit(4)\n",
        sealedSecrets=ferris.ferris(
            "seal", "--namespace", ns, "--package", "canary-failing", input=json.dumps({"CANARY": canary})
        ).stdout.strip(),
    )
    runs = []
    for package, phase in (("canary", "Succeeded"), ("canary-sealed", "Succeeded"), ("canary-failing", "Failed")):
        ferris.wait_condition(ns, "ferrispackage", package, "Ready")
        run = ferris.create_run(ns, package)
        status = ferris.wait_run(ns, run)["status"]
        assert status["phase"] == phase
        runs.append((run, status))
    canaries = [canary, nested, sealed_canary]

    # The script really saw the values (the canary is live), and its output was masked.
    uid = ferris.get(ns, "ferrisrun", runs[0][0])["metadata"]["uid"]
    assert "plain ****" in ferris.steps(uid)[0][4]

    assert_clean("cluster objects (every listable kind, Events included)", every_object_as_yaml(ferris), canaries)
    assert_clean("the operator's log", ferris.operator_log(), canaries)
    node_logs = ferris.node_logs()
    assert "plain ****" in node_logs
    assert_clean("runner pod logs", node_logs, canaries)
    for log in Path(ferris.stack.cluster.logs).glob("*.log"):
        assert_clean(f"control-plane log {log.name}", log.read_text(errors="replace"), canaries)
    dump = ferris.pg_dump()
    # At rest: etcd's data files (every Kubernetes Secret and object as stored) and the server log.
    for path in Path(ferris.stack.cluster.directory, "etcd").rglob("*"):
        if path.is_file():
            assert_clean(f"etcd data {path.name}", path.read_bytes().decode("latin-1"), canaries)
    assert_clean(
        "PostgreSQL's server log", (ferris.stack.postgres.root / "postgres.log").read_text("latin-1"), canaries
    )
    assert "canary" in dump  # the package rows are there
    assert "refreshed_token" in dump  # and the state rows (the canary is in them, encrypted)
    assert_clean("pg_dump", dump, canaries)

    for run, _ in runs:
        assert not ferris.exists(ns, "secret", f"{run}-key"), "run key Secret outlived its run"
        pods = json.loads(ferris.kubectl("get", "pods", "-n", ns, "-l", f"ferris.io/run={run}", "-o", "json").stdout)
        assert len(pods["items"]) == 1, f"run {run} has {len(pods['items'])} pods"
        for pod in pods["items"]:
            spec = pod["spec"]
            assert spec["automountServiceAccountToken"] is False
            assert not any("serviceAccountToken" in json.dumps(v) for v in spec["volumes"])
            projected = [source for v in spec["volumes"] for source in (v.get("projected") or {}).get("sources", [])]
            assert projected and all(set(source) == {"configMap"} for source in projected)  # the package's files
            container = spec["containers"][0]
            assert not any(
                m["mountPath"].startswith("/var/run/secrets/kubernetes.io") for m in container["volumeMounts"]
            )
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]


def test_the_runner_api_speaks_tls_and_takes_only_the_live_token_of_its_run(ferris: Ferris, ns: str) -> None:
    ferris.package(ns, "api", "import time\ntime.sleep(6)\nprint('x')")
    ferris.wait_condition(ns, "ferrispackage", "api", "Ready")
    run = ferris.create_run(ns, "api")
    deadline = time.monotonic() + 60
    while (ferris.get(ns, "ferrisrun", run).get("status") or {}).get("phase") != "Running":
        assert time.monotonic() < deadline, "the run never started"
        time.sleep(0.3)
    uid = ferris.get(ns, "ferrisrun", run)["metadata"]["uid"]
    token = base64.b64decode(ferris.get(ns, "secret", f"{run}-key")["data"]["token"]).decode()
    tls = ssl.create_default_context(cafile=str(ferris.stack.api_tls_dir / "ca.crt"))
    url = f"https://127.0.0.1:{ferris.stack.api_port}/v1/runs/{uid}/state"

    def status(token: str, context: ssl.SSLContext | None = tls, target: str = url) -> int:
        request = urllib.request.Request(target, headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, timeout=5, context=context) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    assert status(token) == 200  # the live token of this run
    assert status(token[:-2] + ("AA" if not token.endswith("AA") else "BB")) == 401
    assert status("wrong") == 401 and status("") == 401
    with pytest.raises(urllib.error.URLError) as refused:  # the server's certificate is of Ferris's own CA
        status(token, ssl.create_default_context())
    assert isinstance(refused.value.reason, ssl.SSLCertVerificationError)
    with pytest.raises((urllib.error.URLError, ConnectionError)):  # no plain HTTP
        status(token, None, url.replace("https://", "http://"))
    assert ferris.wait_run(ns, run)["status"]["phase"] == "Succeeded"
    assert status(token) == 401  # revoked when the run ended


def test_a_secret_of_several_lines_is_masked_on_every_line_of_the_output(ferris: Ferris, ns: str) -> None:
    lines = [f"{uuid.uuid4().hex}{uuid.uuid4().hex[:8]}" for _ in range(3)]
    pem = "-----BEGIN TEST KEY-----\n" + "\n".join(lines) + "\n-----END TEST KEY-----"
    ferris.secret(ns, "pem-source", json.dumps({"KEY": pem}))
    ferris.package(
        ns,
        "pem",
        "from ferris_ef import get_secret\nprint(get_secret('KEY'))\n",
        secretsFrom={"secretName": "pem-source"},
    )
    ferris.wait_condition(ns, "ferrispackage", "pem", "Ready")
    run = ferris.wait_run(ns, ferris.create_run(ns, "pem"))
    assert run["status"]["phase"] == "Succeeded"
    output = ferris.steps(run["metadata"]["uid"])[0][4]
    assert output.count("****") == 5, output
    assert_clean("the step's output", output, lines)
    node_logs = ferris.node_logs()
    assert_clean("runner pod logs", node_logs, lines)


def test_a_secret_param_reaches_the_script_and_no_other_surface(ferris: Ferris, ns: str) -> None:
    """`ferris run -s api_token=CANARY` as a ServiceAccount with a token that may read packages
    and create runs: the script reads the value (its digest printed), its output masks it even
    with maskSecretsInOutput false, and the canary is nowhere else: objects, Events, every log,
    etcd's files, PostgreSQL's log and a dump, history as the server answers it. A FerrisRun
    made with kubectl that writes a secret param into its spec is refused without quoting it."""
    import hashlib

    from .actors import run_starter

    canary = "p4r4m-" + uuid.uuid4().hex
    schema = {
        "required": ["api_token"],
        "properties": {"api_token": {"type": "string", "secret": True}, "region": {"type": "string", "default": "eu"}},
    }
    script = (
        "import hashlib, json, sys\nfrom ferris_ef import get_param\nargs = json.loads(sys.argv[1])\n"
        "print('token', args['api_token'])\n"
        "print('digest', hashlib.sha256(get_param('api_token').encode()).hexdigest())\n"
        "print('region', args['region'])\n"
    )
    ferris.package(ns, "param-canary", script, paramsSchema=schema, maskSecretsInOutput=False)
    ferris.wait_condition(ns, "ferrispackage", "param-canary", "Ready")
    user = run_starter(ferris, ns)
    started = ferris.ferris(
        "run", "param-canary", "-n", ns, "-s", f"api_token={canary}", "-p", "region=us",
        "--kubeconfig", str(user.kubeconfig),
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    name = started.stdout.split()[0].split("/")[-1]
    assert ferris.wait_run(ns, name)["status"]["phase"] == "Succeeded"
    run = ferris.get(ns, "ferrisrun", name)
    assert run["spec"]["params"] == {"region": "us"}
    assert run["metadata"]["annotations"]["ferris.io/secret-params"] == "api_token"
    output = ferris.steps(run["metadata"]["uid"])[0][4]
    assert "token ****" in output and "region us" in output
    assert f"digest {hashlib.sha256(canary.encode()).hexdigest()}" in output  # the script read the real value

    written = "wr1tten-" + uuid.uuid4().hex  # a user's own mistake: in the spec, so not searched for below
    ferris.apply(
        ns,
        {
            "apiVersion": "ferris.io/v1alpha1",
            "kind": "FerrisRun",
            "metadata": {"name": "in-the-spec"},
            "spec": {"packageRef": {"name": "param-canary"}, "params": {"api_token": written}},
        },
    )
    refused = ferris.wait_run(ns, "in-the-spec")["status"]
    [why] = [c for c in refused["conditions"] if c["type"] == "Succeeded"]
    assert (refused["phase"], why["reason"]) == ("Failed", "InvalidParams")
    assert "spec.params.api_token is a secret param" in why["message"] and written not in why["message"]

    canaries = [canary]
    shown = ferris.ferris("results", name, "-n", ns)
    assert shown.returncode == 0 and "token ****" in shown.stdout
    assert_clean("ferris results", shown.stdout, canaries)
    assert_clean("ferris runs", ferris.ferris("runs", "-n", ns).stdout, canaries)
    assert_clean("cluster objects (every listable kind, Events included)", every_object_as_yaml(ferris), canaries)
    assert_clean("the operator's log", ferris.operator_log(), canaries)
    assert_clean("runner pod logs", ferris.node_logs(), canaries)
    for log in Path(ferris.stack.cluster.logs).glob("*.log"):  # the server's among them
        assert_clean(f"log {log.name}", log.read_text(errors="replace"), canaries)
    for path in Path(ferris.stack.cluster.directory, "etcd").rglob("*"):
        if path.is_file():
            assert_clean(f"etcd data {path.name}", path.read_bytes().decode("latin-1"), canaries)
    assert_clean(
        "PostgreSQL's server log", (ferris.stack.postgres.root / "postgres.log").read_text("latin-1"), canaries
    )
    dump = ferris.pg_dump()
    assert '"api_token": "****"' in dump or '"api_token":"****"' in dump  # history keeps the mask
    assert_clean("pg_dump", dump, canaries)
    with psycopg.connect(ferris.stack.postgres.url) as conn:  # kept for the run only: gone with its end
        left = conn.execute("SELECT count(*) FROM run_secret_params").fetchone()
    assert left == (0,)


def test_a_sql_steps_database_url_reaches_the_step_and_no_other_surface(ferris: Ferris, ns: str) -> None:
    """A package's .sql step runs against a database of the test's PostgreSQL through a URL held
    in secrets.json (its password a canary: the server trusts loopback, so any password opens
    it); the rows it made are there, and the URL is in no object, log, dump or output."""
    postgres = ferris.stack.postgres
    database, canary = f"sql_{uuid.uuid4().hex[:10]}", "pw-c4n4ry-" + uuid.uuid4().hex
    with psycopg.connect(postgres.url_for("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"'.encode())
    url = f"postgresql://{postgres.user}:{canary}@127.0.0.1:{postgres.port}/{database}"
    try:
        ferris.secret(ns, "sql-source", json.dumps({"WAREHOUSE": url}))
        scripts = [
            ("prepare.py", "import sys, json; print('region', json.loads(sys.argv[1])['region'])\n"),
            (
                "load.sql",
                "CREATE TABLE sales (region text, amount int);\n"
                "INSERT INTO sales VALUES (%(region)s, 3), (%(region)s, 4);\n"
                "SELECT region, sum(amount) AS total FROM sales GROUP BY region;\n",
            ),
            ("broken.sql", "SELECT 1;\nSELECT * FROM nowhere;\n"),
        ]
        ferris.package(
            ns,
            "warehouse",
            scripts,
            executionOrder=["prepare.py", "load.sql"],
            sql={"connectionSecret": "WAREHOUSE"},
            secretsFrom={"secretName": "sql-source"},
            maskSecretsInOutput=False,  # the URL is masked all the same
        )
        ferris.wait_condition(ns, "ferrispackage", "warehouse", "Ready")
        run = ferris.create_run(ns, "warehouse", params={"region": "eu"})
        status = ferris.wait_run(ns, run)["status"]
        assert status["phase"] == "Succeeded", status
        uid = ferris.get(ns, "ferrisrun", run)["metadata"]["uid"]
        output = ferris.steps(uid)[1][4]
        assert "eu | 7\n(1 row)\nSELECT 1\n-- committed: 3 statements\n" in output, output
        with psycopg.connect(postgres.url_for(database)) as conn:
            assert conn.execute(b"SELECT count(*) FROM sales").fetchone() == (2,)

        # A source of its own: the first package takes its source in and deletes it, and would
        # take in one made again under that name before this package read it.
        ferris.secret(ns, "sql-source-broken", json.dumps({"WAREHOUSE": url}))
        ferris.package(
            ns,
            "warehouse-broken",
            scripts,
            entrypoint="broken.sql",
            sql={"connectionSecret": "WAREHOUSE"},
            secretsFrom={"secretName": "sql-source-broken"},
        )
        ferris.wait_condition(ns, "ferrispackage", "warehouse-broken", "Ready")
        failed = ferris.wait_run(ns, ferris.create_run(ns, "warehouse-broken"))["status"]
        assert failed["phase"] == "Failed"
        assert 'statement 2 (line 2) failed: relation "nowhere" does not exist' in failed["steps"][0]["outputTail"]

        canaries = [canary, url]
        assert_clean("cluster objects (every listable kind, Events included)", every_object_as_yaml(ferris), canaries)
        assert_clean("the operator's log", ferris.operator_log(), canaries)
        assert_clean("runner pod logs", ferris.node_logs(), canaries)
        assert_clean("pg_dump", ferris.pg_dump(), canaries)
    finally:
        with psycopg.connect(postgres.url_for("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{database}" WITH (FORCE)'.encode())
