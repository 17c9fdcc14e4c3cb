"""The script contract: steps in order, failures, params, missing secrets, state, re-uploads."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from .conftest import Ferris

pytestmark = pytest.mark.cluster


def test_second_of_three_scripts_fails_the_run_and_skips_the_third(ferris: Ferris, ns: str) -> None:
    ferris.package(
        ns,
        "three",
        [
            ("one.py", "print('first ran')"),
            ("two.sh", "echo 'second ran'; echo 'to stderr' >&2; exit 1"),
            ("three.py", "print('third ran')"),
        ],
    )
    ferris.wait_condition(ns, "ferrispackage", "three", "Ready")
    run = ferris.create_run(ns, "three")
    status = ferris.wait_run(ns, run)["status"]
    assert status["phase"] == "Failed"
    assert [(s["name"], s["phase"], s.get("exitCode")) for s in status["steps"]] == [
        ("one.py", "Succeeded", 0),
        ("two.sh", "Failed", 1),
        ("three.py", "Skipped", None),
    ]
    succeeded = next(c for c in status["conditions"] if c["type"] == "Succeeded")
    assert succeeded["status"] == "False" and succeeded["reason"] == "StepFailed"
    assert "two.sh" in succeeded["message"]
    steps = ferris.steps(ferris.get(ns, "ferrisrun", run)["metadata"]["uid"])
    assert steps[0][4] == "first ran\n"
    assert steps[1][4] == "second ran\nto stderr\n"
    assert steps[2][2] == "Skipped" and steps[2][4] == ""
    assert status["progress"] == "1/3"


PARAMS_SCRIPT = """
import json, sys
from ferris_ef import context, get_param, get_secret
print("region", get_param("region"))
print("retries", get_param("retries"))
print("missing-param", get_param("nope"))
print("missing-secret", get_secret("NOPE"))
print("params", json.dumps(context.params, sort_keys=True))
print("config", json.dumps(context.config, sort_keys=True))
print("package", context.package.name, context.package.id == json.loads(sys.argv[1])["package_id"])
print("secret-via-context", context.secrets.get("TOKEN") == get_secret("TOKEN"))
state = context.state.get()
count = state.get("count", 0) + 1
context.state.put("count", count)
print("count", count)
"""


def test_params_merge_missing_names_and_state_across_runs(ferris: Ferris, ns: str) -> None:
    ferris.secret(ns, "params-secrets", json.dumps({"TOKEN": "tok-123456"}))
    ferris.package(
        ns,
        "params",
        PARAMS_SCRIPT,
        params={"region": "eu", "retries": 1},
        config={"mode": "fast"},
        secretsFrom={"secretName": "params-secrets"},
    )
    ferris.wait_condition(ns, "ferrispackage", "params", "Ready")
    first = ferris.create_run(ns, "params", params={"retries": 5})
    assert ferris.wait_run(ns, first)["status"]["phase"] == "Succeeded"
    uid = ferris.get(ns, "ferrisrun", first)["metadata"]["uid"]
    output = ferris.steps(uid)[0][4]
    assert "region eu\n" in output and "retries 5\n" in output
    assert "Parameter nope not found!\nmissing-param None\n" in output
    assert "Secret NOPE not found!\nmissing-secret None\n" in output
    params = json.loads(output.split("params ", 1)[1].splitlines()[0])
    assert params["region"] == "eu" and params["retries"] == 5 and params["package_name"] == "params"
    assert "secrets" not in params
    assert 'config {"mode": "fast"}' in output
    assert "package params True" in output and "secret-via-context True" in output
    assert "count 1\n" in output
    second = ferris.create_run(ns, "params")
    assert ferris.wait_run(ns, second)["status"]["phase"] == "Succeeded"
    output = ferris.steps(ferris.get(ns, "ferrisrun", second)["metadata"]["uid"])[0][4]
    assert "retries 1\n" in output and "count 2\n" in output


def project_sealed(ferris: Ferris, ns: str, document: dict[str, str]) -> None:
    sealed = ferris.ferris("seal", "-", "-n", ns, "--project", input=json.dumps(document))
    assert sealed.returncode == 0, sealed.stderr
    ferris.apply(
        ns,
        {
            "apiVersion": "ferris.io/v1alpha1",
            "kind": "FerrisProjectSecrets",
            "metadata": {"name": "project"},
            "spec": {"sealedSecrets": sealed.stdout.strip()},
        },
    )


def test_a_run_in_flight_keeps_its_secrets_version_through_a_reupload(ferris: Ferris, ns: str) -> None:
    """The first run is still Pending when the secrets are re-uploaded, and its children are lost
    and made again afterwards: it still gets the package's version it pinned; the next run gets the
    new one. The project's scope is not pinned: the bundle sealed again reads it as it is then."""
    script = (
        "from ferris_ef import context, get_secret\n"
        "print('value', get_secret('KEY'))\n"
        "print('project', context.secrets.get('PROJECT_KEY'))"
    )
    project_sealed(ferris, ns, {"PROJECT_KEY": "project-old-1"})
    ferris.wait_condition(ns, "ferrisprojectsecrets", "project", "SecretsStored")
    ferris.secret(ns, "rotating", json.dumps({"KEY": "old-value-1"}))
    ferris.package(ns, "rotating", script, secretsFrom={"secretName": "rotating"}, maskSecretsInOutput=False)
    ferris.wait_condition(ns, "ferrispackage", "rotating", "Ready")
    node = ferris.kubectl("get", "nodes", "-o", "name").stdout.split()[0]
    ferris.kubectl("cordon", node)  # the first run stays Pending
    try:
        time.sleep(1.5)  # the process node reads its cordon twice a second
        first = ferris.create_run(ns, "rotating")
        wait_for(lambda: ferris.exists(ns, "job", f"{first}-run"), "the first run's Job")
        ferris.secret(ns, "rotating", json.dumps({"KEY": "new-value-2"}))
        ferris.kubectl("annotate", "-n", ns, "ferrispackage", "rotating", "ferris.io/reingest=1", "--overwrite")
        # Well under the 60 s periodic resync: the annotation triggers the re-ingestion.
        wait_for(lambda: ferris.get(ns, "ferrispackage", "rotating")["status"]["secrets"]["version"] == 2, "v2", 15)
        project_sealed(ferris, ns, {"PROJECT_KEY": "project-new-2"})
        wait_for(lambda: ferris.get(ns, "ferrisprojectsecrets", "project")["status"]["secrets"]["version"] == 2, "v2")
        # Its children are lost, as in a crash between writes: the resync makes them again.
        ferris.kubectl("delete", "-n", ns, f"job/{first}-run", f"secret/{first}-key")
        wait_for(lambda: ferris.exists(ns, "secret", f"{first}-key"), "the first run's children again", 90)
    finally:
        ferris.kubectl("uncordon", node)
    assert ferris.wait_run(ns, first)["status"]["secretsVersion"] == 1
    second = ferris.create_run(ns, "rotating")
    assert ferris.wait_run(ns, second)["status"]["secretsVersion"] == 2
    uid1 = ferris.get(ns, "ferrisrun", first)["metadata"]["uid"]
    uid2 = ferris.get(ns, "ferrisrun", second)["metadata"]["uid"]
    first_output, second_output = ferris.steps(uid1)[0][4], ferris.steps(uid2)[0][4]
    assert "value old-value-1" in first_output and "project project-new-2" in first_output, first_output
    assert "value new-value-2" in second_output and "project project-new-2" in second_output, second_output
    assert ferris.run_row(uid1)[2] == 1  # type: ignore[index]
    assert ferris.run_row(uid2)[2] == 2  # type: ignore[index]


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def test_history_limit_removes_older_runs_from_the_cluster_and_keeps_them_in_postgres(ferris: Ferris, ns: str) -> None:
    ferris.package(ns, "kept", "print('ok')", successfulRunsHistoryLimit=1)
    ferris.wait_condition(ns, "ferrispackage", "kept", "Ready")
    first = ferris.create_run(ns, "kept", name="kept-first")
    first_uid = ferris.wait_run(ns, first)["metadata"]["uid"]
    second = ferris.create_run(ns, "kept", name="kept-second")
    assert ferris.wait_run(ns, second)["status"]["phase"] == "Succeeded"
    deadline = time.monotonic() + 30  # history is swept every 10 s
    while ferris.exists(ns, "ferrisrun", first) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not ferris.exists(ns, "ferrisrun", first), "the older run is past the history limit of 1"
    assert ferris.exists(ns, "ferrisrun", second)
    assert ferris.run_row(first_uid) is not None and ferris.steps(first_uid)[0][4] == "ok\n"
    results = ferris.ferris("results", first, "-n", ns)
    assert results.returncode == 0 and "ok" in results.stdout, results.stderr


def test_a_jinja_file_is_rendered_with_the_runs_params_and_one_naming_a_secret_fails_the_run(
    ferris: Ferris, ns: str
) -> None:
    """query.sql.jinja becomes query.sql with this run's params before the step reads it; a
    template that names a secret fails the run at its first step, naming file and line, and the
    secret is in no output."""
    canary = "jinja-c4n4ry-" + str(time.time_ns())
    ferris.secret(ns, "tpl-source", json.dumps({"TOKEN": canary}))
    scripts = [
        ("main.py", "print(open('query.sql').read(), end='')\n"),
        ("query.sql.jinja", "SELECT * FROM {{ table }} WHERE region = '{{ region }}'; -- {{ package_name }}\n"),
    ]
    ferris.package(ns, "templated", scripts, params={"table": "sales"}, secretsFrom={"secretName": "tpl-source"})
    ferris.wait_condition(ns, "ferrispackage", "templated", "Ready")
    run = ferris.wait_run(ns, ferris.create_run(ns, "templated", params={"region": "eu"}))
    assert run["status"]["phase"] == "Succeeded", run["status"]
    assert run["status"]["steps"][0]["outputTail"] == "SELECT * FROM sales WHERE region = 'eu'; -- templated\n"
    leaky = [("main.py", "print('must not run')\n"), ("note.txt.jinja", "token:\n{{ secrets.TOKEN }}\n")]
    ferris.package(ns, "leaky", leaky)
    ferris.wait_condition(ns, "ferrispackage", "leaky", "Ready")
    failed = ferris.wait_run(ns, ferris.create_run(ns, "leaky"))["status"]
    assert failed["phase"] == "Failed" and failed["steps"][0]["phase"] == "Failed"
    assert failed["steps"][0]["outputTail"].startswith("note.txt.jinja line 2: 'secrets' is undefined")
    assert canary not in json.dumps([run, failed]) and "must not run" not in json.dumps(failed)
