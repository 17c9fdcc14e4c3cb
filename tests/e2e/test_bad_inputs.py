"""Bad input gets a clear condition and Event (or is refused at admission), and other runs keep working."""

from __future__ import annotations

import json

import pytest

from .conftest import Ferris

pytestmark = pytest.mark.cluster
OK_SCRIPT = "print('fine')"


def warning_reasons(ferris: Ferris, namespace: str, name: str) -> set[str]:
    return {e["reason"] for e in ferris.events(namespace, name) if e["type"] == "Warning"}


def has_warning(ferris: Ferris, namespace: str, name: str, reason: str, timeout: float = 30) -> bool:
    """The Warning arrives: the operator posts it after the status a test waits for."""
    return bool(ferris.wait_events(namespace, name, reason, kind="Warning", timeout=timeout))


def test_run_of_a_missing_package_fails_with_reason_and_event(ferris: Ferris, ns: str) -> None:
    run = ferris.create_run(ns, "does-not-exist")
    status = ferris.wait_run(ns, run)["status"]
    cond = next(c for c in status["conditions"] if c["type"] == "Succeeded")
    assert (status["phase"], cond["reason"]) == ("Failed", "PackageNotFound")
    assert f"FerrisPackage {ns}/does-not-exist does not exist" in cond["message"]
    assert has_warning(ferris, ns, run, "PackageNotFound")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"scripts": []}, "spec.scripts: Invalid value: 0: spec.scripts in body should have at least 1 items"),
        ({"scripts": [{"name": "../etc/x.py", "content": "x"}]}, "spec.scripts[0].name in body should match"),
        ({"scripts": [{"name": "a.py"}]}, "each script sets exactly one of content, configMapRef or configMapRefs"),
        (
            {"scripts": [{"name": "a.py", "content": "1"}, {"name": "a.py", "content": "2"}]},
            'spec.scripts[1]: Duplicate value: {"name":"a.py"}',
        ),
        (
            {
                "scripts": [{"name": "a.py", "content": "1"}],
                "secretsFrom": {"secretName": "s"},
                "sealedSecrets": "ferris-sealed:v1:AAAA",
            },
            "set either secretsFrom or sealedSecrets, not both",
        ),
        ({"scripts": [{"name": "a.py", "content": "1"}], "entrypoint": "b.py"}, "entrypoint must name one of"),
        ({"scripts": [{"name": "a.py", "content": "1"}], "executionOrder": ["b.py"]}, "executionOrder must name only"),
        (
            {"scripts": [{"name": "a.py", "content": "1"}], "executionOrder": ["a.py"], "entrypoint": "a.py"},
            "set entrypoint (one step) or executionOrder (these steps, in order), not both",
        ),
        ({"scripts": [{"name": "a.txt", "content": "1"}], "executionOrder": ["a.txt"]}, "spec.executionOrder[0]"),
        (
            {"scripts": [{"name": "q.sql", "content": "SELECT 1"}], "executionOrder": ["q.sql"]},
            "spec.sql: Invalid value: a .sql step needs spec.sql.connectionSecret",
        ),
        (
            {"scripts": [{"name": "q.sql", "content": "SELECT 1"}], "entrypoint": "q.sql"},
            "a .sql step needs spec.sql.connectionSecret",
        ),
        (
            {
                "scripts": [{"name": "q.sql", "content": "SELECT 1"}],
                "entrypoint": "q.sql",
                "sql": {"connectionSecret": "db", "transaction": "sometimes"},
            },
            'spec.sql.transaction: Unsupported value: "sometimes"',
        ),
    ],
    ids=[
        "no-scripts",
        "path-in-name",
        "no-content",
        "duplicate-name",
        "two-secret-sources",
        "bad-entrypoint",
        "order-names-no-script",
        "order-and-entrypoint",
        "order-of-a-file-that-does-not-run",
        "sql-step-without-a-database",
        "sql-entrypoint-without-a-database",
        "sql-transaction-unknown",
    ],
)
def test_schema_refuses_bad_packages_at_admission_naming_the_field(
    ferris: Ferris, ns: str, spec: dict[str, object], message: str
) -> None:
    result = ferris.apply(
        ns,
        {"apiVersion": "ferris.io/v1alpha1", "kind": "FerrisPackage", "metadata": {"name": "bad"}, "spec": spec},
        check=False,
    )
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_secret_without_the_key_is_reported(ferris: Ferris, ns: str) -> None:
    ferris.secret(ns, "wrong-key", json.dumps({"A": "1234"}), key="other.json")
    ferris.package(ns, "wrong-key", OK_SCRIPT, secretsFrom={"secretName": "wrong-key"})
    cond = ferris.wait_condition(ns, "ferrispackage", "wrong-key", "SecretKeyMissing")
    assert cond["status"] == "False"
    assert "Secret wrong-key has no key 'secrets.json' (keys present: other.json)" in cond["message"]
    assert has_warning(ferris, ns, "wrong-key", "SecretKeyMissing")
    assert ferris.exists(ns, "secret", "wrong-key")  # nothing lost


def test_invalid_secrets_json_is_reported_without_its_values(ferris: Ferris, ns: str) -> None:
    ferris.secret(ns, "invalid", '{"GOOD": "canary-invalid-1", "bad-name": "x"}')
    ferris.package(ns, "invalid", OK_SCRIPT, secretsFrom={"secretName": "invalid"})
    cond = ferris.wait_condition(ns, "ferrispackage", "invalid", "InvalidSecretsJson")
    assert "key 'bad-name' is not a valid name" in cond["message"]
    assert "canary-invalid-1" not in json.dumps(ferris.events(ns, "invalid"))
    assert ferris.exists(ns, "secret", "invalid")  # kept, so the user can fix it


def test_missing_source_secret_waits_then_heals(ferris: Ferris, ns: str) -> None:
    ferris.package(ns, "later", OK_SCRIPT, secretsFrom={"secretName": "later"})
    cond = ferris.wait_condition(ns, "ferrispackage", "later", "SecretSourceNotFound")
    assert "Secret later not found" in cond["message"]
    ferris.secret(ns, "later", json.dumps({"A": "abcd"}))
    ferris.wait_condition(ns, "ferrispackage", "later", "Ready", timeout=60)


def test_run_of_a_package_that_is_not_ready_fails_clearly(ferris: Ferris, ns: str) -> None:
    ferris.secret(ns, "broken", "not json")
    ferris.package(ns, "broken", OK_SCRIPT, secretsFrom={"secretName": "broken"})
    ferris.wait_condition(ns, "ferrispackage", "broken", "InvalidSecretsJson")
    run = ferris.create_run(ns, "broken")
    cond = next(c for c in ferris.wait_run(ns, run)["status"]["conditions"] if c["type"] == "Succeeded")
    assert cond["reason"] == "PackageNotReady" and "InvalidSecretsJson" in cond["message"]


def test_runner_image_that_does_not_exist_fails_the_run(ferris: Ferris, ns: str) -> None:
    ferris.package(ns, "noimage", OK_SCRIPT, runner={"image": "registry.invalid/nothing:1"})
    ferris.wait_condition(ns, "ferrispackage", "noimage", "Ready")
    run = ferris.create_run(ns, "noimage")
    status = ferris.wait_run(ns, run)["status"]
    cond = next(c for c in status["conditions"] if c["type"] == "Succeeded")
    assert (status["phase"], cond["reason"]) == ("Failed", "ImagePullBackOff")
    assert "registry.invalid/nothing:1" in cond["message"]
    assert has_warning(ferris, ns, run, "ImagePullBackOff")
    ferris.wait_gone(ns, run)  # a pod that can never start is not left waiting


def test_timeout_stops_the_run(ferris: Ferris, ns: str) -> None:
    ferris.package(ns, "slow", "import time\nprint('sleeping', flush=True)\ntime.sleep(300)")
    ferris.wait_condition(ns, "ferrispackage", "slow", "Ready")
    run = ferris.create_run(ns, "slow", timeoutSeconds=3)
    status = ferris.wait_run(ns, run, timeout=90)["status"]
    cond = next(c for c in status["conditions"] if c["type"] == "Succeeded")
    assert (status["phase"], cond["reason"]) == ("Failed", "Timeout")
    assert "timeout of 3s" in cond["message"]


def test_cancel_stops_the_run(ferris: Ferris, ns: str) -> None:
    ferris.package(ns, "cancel-me", "import time\nprint('started', flush=True)\ntime.sleep(300)")
    ferris.wait_condition(ns, "ferrispackage", "cancel-me", "Ready")
    run = ferris.create_run(ns, "cancel-me")
    ferris.kubectl("wait", "-n", ns, f"ferrisrun/{run}", "--for=jsonpath={.status.phase}=Running", "--timeout=60s")
    ferris.kubectl("patch", "-n", ns, "ferrisrun", run, "--type=merge", "-p", '{"spec": {"cancel": true}}')
    status = ferris.wait_run(ns, run)["status"]
    assert status["phase"] == "Cancelled"
    ferris.wait_gone(ns, run)  # the script is stopped, not left running


def test_good_runs_keep_working_beside_bad_ones(ferris: Ferris, ns: str) -> None:
    ferris.package(ns, "good", OK_SCRIPT)
    ferris.wait_condition(ns, "ferrispackage", "good", "Ready")
    bad = ferris.create_run(ns, "missing-package")
    good = ferris.create_run(ns, "good")
    assert ferris.wait_run(ns, good)["status"]["phase"] == "Succeeded"
    assert ferris.wait_run(ns, bad)["status"]["phase"] == "Failed"
