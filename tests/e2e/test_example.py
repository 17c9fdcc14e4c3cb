"""The secrets-demo example, applied as a user would, run every way a user would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import Ferris

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "secrets-demo"
pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def demo(ferris: Ferris) -> str:
    ferris.kubectl("apply", "-k", str(EXAMPLE))
    for name in ("secrets-demo", "secrets-demo-unmasked"):
        ferris.wait_condition("ferris-demo", "ferrispackage", name, "Ready")
    return "ferris-demo"


def output_of(ferris: Ferris, namespace: str, run: str) -> str:
    uid = ferris.get(namespace, "ferrisrun", run)["metadata"]["uid"]
    return str(ferris.steps(uid)[0][4])


def test_package_reports_names_and_version_and_the_source_secret_is_gone(ferris: Ferris, demo: str) -> None:
    package = ferris.get(demo, "ferrispackage", "secrets-demo")
    assert package["status"]["secrets"]["names"] == ["DB_NAME", "DB_PASS"]
    assert package["status"]["secrets"]["version"] == 1
    assert not ferris.exists(demo, "secret", "secrets-demo-secrets")
    table = ferris.kubectl("get", "ferrispackages", "-n", demo).stdout
    assert table.split("\n")[0].split() == ["NAME", "SECRETS", "VERSION", "LAST", "RUN", "NEXT", "RUN", "READY", "AGE"]


def test_run_created_with_kubectl_succeeds_with_masked_values(ferris: Ferris, demo: str) -> None:
    run = ferris.create_run(demo, "secrets-demo")
    status = ferris.wait_run(demo, run)["status"]
    assert status["phase"] == "Succeeded", status
    assert status["steps"][0]["phase"] == "Succeeded" and status["steps"][0]["exitCode"] == 0
    output = output_of(ferris, demo, run)
    assert "PACKAGE NAME: secrets-demo\n" in output
    assert "DB NAME: ****\nDB PASS: ****\n" in output
    assert "DB_NAME -> ****\nDB_PASS -> ****\n" in output
    assert "test_db" not in output and "supersecretpas$" not in output
    environ = next(line for line in output.splitlines() if line.startswith("environ("))
    for forbidden in ("supersecretpas", "test_db", "run.key", "token", "FERRIS_RUN_UID", "FERRIS_API_URL"):
        assert forbidden not in environ
    assert not ferris.exists(demo, "secret", status["jobName"].removesuffix("-run") + "-key")


def test_unmasked_package_shows_values_in_clear(ferris: Ferris, demo: str) -> None:
    run = ferris.create_run(demo, "secrets-demo-unmasked")
    assert ferris.wait_run(demo, run)["status"]["phase"] == "Succeeded"
    output = output_of(ferris, demo, run)
    assert "DB NAME: test_db\nDB PASS: supersecretpas$\n" in output
    assert "DB_PASS -> supersecretpas$" in output


def test_ferris_run_wait_follows_and_exits_with_the_result(ferris: Ferris, demo: str) -> None:
    result = ferris.ferris("run", "secrets-demo", "-n", demo, "--wait", "--follow")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Succeeded 1/1 test_secrets.py[ok]" in result.stdout
    assert "--- test_secrets.py (exit 0) ---\nDB NAME: ****\nDB PASS: ****\n" in result.stdout  # followed, masked
    run = result.stdout.split("/", 1)[1].split()[0]
    results = ferris.ferris("results", run, "-n", demo)
    assert "=== step 1: test_secrets.py  Succeeded exit 0 ===" in results.stdout
    assert "DB PASS: ****" in results.stdout


def test_ferris_run_wait_exits_non_zero_when_the_run_fails(ferris: Ferris, ns: str) -> None:
    ferris.package(ns, "fails", "print('about to fail')\nraise SystemExit(3)")
    ferris.wait_condition(ns, "ferrispackage", "fails", "Ready")
    result = ferris.ferris("run", "fails", "-n", ns, "--wait", "--follow")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "--- main.py (exit 3) ---\nabout to fail\n" in result.stdout
    assert ": Failed (StepFailed) step main.py exited with code 3" in result.stdout


def test_sealed_secrets_from_ferris_seal_work_and_are_bound_to_the_package(ferris: Ferris, ns: str) -> None:
    document = json.dumps({"DB_NAME": "sealed_db", "DB_PASS": "sealed-pass-123"})
    sealed = ferris.ferris("seal", "-", "--namespace", ns, "--package", "sealed-demo", input=document)
    assert sealed.returncode == 0, sealed.stderr
    text = sealed.stdout.strip()
    assert text.startswith("ferris-sealed:v1:") and "sealed-pass" not in text
    script = (EXAMPLE / "test_secrets.py").read_text()
    ferris.package(ns, "sealed-demo", [("test_secrets.py", script)], sealedSecrets=text, maskSecretsInOutput=False)
    ferris.wait_condition(ns, "ferrispackage", "sealed-demo", "Ready")
    run = ferris.create_run(ns, "sealed-demo")
    assert ferris.wait_run(ns, run)["status"]["phase"] == "Succeeded"
    assert "DB PASS: sealed-pass-123" in output_of(ferris, ns, run)
    # The same sealed text in another package fails closed, with the reason.
    ferris.package(ns, "other-package", [("test_secrets.py", script)], sealedSecrets=text)
    cond = ferris.wait_condition(ns, "ferrispackage", "other-package", "SealedSecretsInvalid")
    assert f"does not open for package {ns}/other-package" in cond["message"]
