"""Project and platform secrets on the local cluster: stored from a marked Secret (deleted once
ingested) or a sealed text for that scope, status with names only; scripts read them after the
package's own (platform only where its readers allow), write them only where a scope's writers
name the package (refused with the fix otherwise), and the next run of another package reads
what was written; Events and status follow; no value anywhere but in the run pod."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
from psycopg.types.json import Jsonb

from .conftest import Ferris
from .test_security import assert_clean, every_object_as_yaml

pytestmark = pytest.mark.cluster


def project(spec: dict[str, object], name: str = "project") -> dict[str, object]:
    return {
        "apiVersion": "ferris.io/v1alpha1",
        "kind": "FerrisProjectSecrets",
        "metadata": {"name": name},
        "spec": spec,
    }


def test_project_secrets_are_stored_encrypted_with_names_in_status_and_the_source_deleted(
    ferris: Ferris, ns: str
) -> None:
    canary = "prj-c4n4ry-" + uuid.uuid4().hex
    ferris.secret(ns, "shared", json.dumps({"OAUTH_TOKEN": canary, "REGION": "eu-west-1"}))
    ferris.apply(ns, project({"secretsFrom": {"secretName": "shared"}}))
    ready = ferris.wait_condition(ns, "ferrisprojectsecrets", "project", "SecretsStored")
    assert ready["message"] == "2 secrets at version 1"
    status = ferris.get(ns, "ferrisprojectsecrets", "project")["status"]["secrets"]
    assert status["names"] == ["OAUTH_TOKEN", "REGION"] and status["source"] == "secret:shared"
    assert not ferris.exists(ns, "secret", "shared")  # ingested, then deleted
    printed = ferris.kubectl("get", "fprj", "-n", ns).stdout.splitlines()
    assert printed[0].split()[:4] == ["NAME", "SECRETS", "VERSION", "READY"] and printed[1].split()[1:4] == [
        "2",
        "1",
        "True",
    ]
    refused = ferris.apply(ns, project({}, name="other"), check=False)
    assert refused.returncode != 0 and "one FerrisProjectSecrets per namespace, named project" in refused.stderr
    assert_clean(
        "the project and its Events", ferris.kubectl("get", "fprj,events", "-n", ns, "-o", "yaml").stdout, [canary]
    )
    with psycopg.connect(ferris.stack.postgres.url) as conn:
        rows = conn.execute(
            "SELECT count(*) FROM secrets s JOIN packages p ON p.uid = s.package_uid WHERE p.namespace = %s", (ns,)
        ).fetchone()
        # The bytes themselves: `ciphertext::text` is bytea's hex, where no plaintext ever matches.
        plain = conn.execute(
            "SELECT count(*) FROM secrets WHERE position(convert_to(%s, 'UTF8') in ciphertext) > 0", (canary,)
        ).fetchone()
    assert rows == (2,) and plain == (0,)
    assert_clean("the database", ferris.pg_dump(), [canary])


def test_a_sealed_text_for_the_project_is_taken_and_one_for_a_package_is_not(ferris: Ferris, ns: str) -> None:
    document = json.dumps({"API_KEY": "sealed-" + uuid.uuid4().hex})
    sealed = ferris.ferris("seal", "-", "-n", ns, "--project", input=document)
    assert sealed.returncode == 0, sealed.stderr
    for_package = ferris.ferris("seal", "-", "-n", ns, "--package", "project", input=document).stdout.strip()
    ferris.apply(ns, project({"sealedSecrets": for_package}))
    condition = ferris.wait_condition(ns, "ferrisprojectsecrets", "project", "SealedSecretsInvalid")
    assert "spec.sealedSecrets" in condition["message"]
    ferris.apply(ns, project({"sealedSecrets": sealed.stdout.strip()}))
    ferris.wait_condition(ns, "ferrisprojectsecrets", "project", "SecretsStored")
    assert ferris.get(ns, "ferrisprojectsecrets", "project")["status"]["secrets"]["names"] == ["API_KEY"]


def platform(name: str, spec: dict[str, object]) -> dict[str, object]:
    return {
        "apiVersion": "ferris.io/v1alpha1",
        "kind": "FerrisPlatformSecrets",
        "metadata": {"name": name},
        "spec": spec,
    }


def digest(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# Prints, for each name in the params, a digest of the value it resolves to (the test tells
# which scope it came from without a value in the output), then argv's secret names.
READER = """import hashlib, json, sys
from ferris_ef import context
args = json.loads(sys.argv[1])
for name in args.get("names", []):
    value = context.secrets.get(name)
    text = value if isinstance(value, str) else json.dumps(value)
    print(name, None if value is None else hashlib.sha256(text.encode()).hexdigest()[:16])
print("argv", sorted(args["secrets"]))
"""

# Writes TOKEN into a scope; the value is made at run time (its text is nowhere in the cluster).
WRITER = """from ferris_ef import context
token = "tok-" + "{reversed_tag}"[::-1]
status, text = context.secrets.set("TOKEN", {{"access": token}}, context="{scope}")
print("answer", status, text)
print("after", context.secrets.get("TOKEN"))
"""

T = TypeVar("T")


def wait_for(read: Callable[[], T], done: Callable[[T], bool], timeout: float = 60) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still {value!r} after {timeout} s")
        time.sleep(0.5)


def observed(obj: dict[str, Any]) -> bool:
    return bool((obj.get("status") or {}).get("observedGeneration") == obj["metadata"]["generation"])


@pytest.fixture
def platforms(ferris: Ferris) -> Iterator[list[str]]:
    """Names of the cluster-scoped objects a test makes, deleted after it."""
    made: list[str] = []
    yield made
    for name in made:
        ferris.kubectl("delete", "ferrisplatformsecrets", name, "--ignore-not-found", "--timeout=60s", check=False)


def apply_platform(ferris: Ferris, name: str, spec: dict[str, object]) -> None:
    ferris.kubectl("apply", "-f", "-", input=json.dumps(platform(name, spec)))
    wait_for(lambda: ferris.get("", "ferrisplatformsecrets", name), observed)


def output(ferris: Ferris, ns: str, run: str) -> str:
    uid = ferris.get(ns, "ferrisrun", run)["metadata"]["uid"]
    return str(ferris.steps(uid)[0][4])


def finished(ferris: Ferris, ns: str, package: str, **spec: Any) -> str:
    run = ferris.create_run(ns, package, **spec)
    assert ferris.wait_run(ns, run)["status"]["phase"] == "Succeeded", output(ferris, ns, run)
    return run


def test_a_script_reads_its_package_then_its_project_then_the_platform_its_readers_allow(
    ferris: Ferris, ns: str, platforms: list[str]
) -> None:
    tag = uuid.uuid4().hex[:8]
    values = {key: f"{key}-{tag}" for key in ("pkg", "prj", "prj-only", "plat", "global", "hidden")}
    ferris.secret(ns, "shared", json.dumps({"SHARED": values["prj"], "PROJECT_ONLY": values["prj-only"]}))
    ferris.apply(ns, project({"secretsFrom": {"secretName": "shared"}}))
    ferris.wait_condition(ns, "ferrisprojectsecrets", "project", "SecretsStored")
    readable, closed = f"e2e-readable-{tag}", f"e2e-closed-{tag}"
    platforms += [readable, closed]
    for name, document, readers in (
        (readable, {"SHARED": values["plat"], "GLOBAL": values["global"]}, [ns]),
        (closed, {"HIDDEN": values["hidden"]}, ["somebody-else"]),
    ):
        sealed = ferris.ferris("seal", "-", "--platform", name, input=json.dumps(document))
        assert sealed.returncode == 0, sealed.stderr
        apply_platform(ferris, name, {"sealedSecrets": sealed.stdout.strip(), "readers": {"namespaces": readers}})
        ferris.wait_condition("", "ferrisplatformsecrets", name, "SecretsStored")
    printed = ferris.kubectl("get", "fplat", readable).stdout.splitlines()
    assert printed[0].split()[:5] == ["NAME", "SECRETS", "VERSION", "READERS", "READY"]
    assert printed[1].split()[1:3] == ["2", "1"]
    sealed = ferris.ferris("seal", "-", "-n", ns, "--package", "reader", input=json.dumps({"SHARED": values["pkg"]}))
    ferris.package(ns, "reader", READER, sealedSecrets=sealed.stdout.strip())
    ferris.wait_condition(ns, "ferrispackage", "reader", "Ready")

    run = finished(ferris, ns, "reader", params={"names": ["SHARED", "PROJECT_ONLY", "GLOBAL", "HIDDEN"]})
    lines = output(ferris, ns, run).splitlines()
    assert f"SHARED {digest(values['pkg'])}" in lines
    assert f"PROJECT_ONLY {digest(values['prj-only'])}" in lines
    assert f"GLOBAL {digest(values['global'])}" in lines
    assert "HIDDEN None" in lines and "Secret HIDDEN not found!" in lines
    assert "argv ['SHARED']" in lines  # sys.argv[1]["secrets"] stays the package's own
    uid = ferris.get(ns, "ferrisrun", run)["metadata"]["uid"]
    with psycopg.connect(ferris.stack.postgres.url) as conn:
        row = conn.execute("SELECT secret_sources FROM runs WHERE uid = %s", (uid,)).fetchone()
    assert row is not None and row[0]["sources"] == {
        "SHARED": "package",
        "PROJECT_ONLY": "project",
        "GLOBAL": f"platform/{readable}",
    }
    assert_clean("cluster objects", every_object_as_yaml(ferris), list(values.values()))

    # A database writer widens the closed scope's readers: the object, which RBAC guards, decides.
    with psycopg.connect(ferris.stack.postgres.url) as conn:
        conn.execute(
            "UPDATE scopes SET readers = %s WHERE kind = 'platform' AND name = %s",
            (Jsonb({"namespaces": [ns]}), closed),
        )
    again = finished(ferris, ns, "reader", params={"names": ["HIDDEN", "GLOBAL"]})
    lines = output(ferris, ns, again).splitlines()
    assert "HIDDEN None" in lines and f"GLOBAL {digest(values['global'])}" in lines


def test_a_script_writes_a_project_secret_only_where_the_writers_name_its_package(ferris: Ferris, ns: str) -> None:
    tag = uuid.uuid4().hex
    token = "tok-" + tag
    ferris.apply(ns, project({}))
    ferris.wait_condition(ns, "ferrisprojectsecrets", "project", "SecretsStored")
    ferris.package(ns, "refresher", WRITER.format(reversed_tag=tag[::-1], scope="project"))
    ferris.package(ns, "reader", READER)
    ferris.wait_condition(ns, "ferrispackage", "refresher", "Ready")
    ferris.wait_condition(ns, "ferrispackage", "reader", "Ready")

    refused = finished(ferris, ns, "refresher")  # the script decides what a refusal means
    assert (
        "answer 403 package refresher may not write project secrets: add {package: refresher} to spec.writers"
        in output(ferris, ns, refused)
    )

    ferris.apply(ns, project({"writers": [{"package": "refresher"}]}))
    wait_for(lambda: ferris.get(ns, "ferrisprojectsecrets", "project"), observed)
    written = finished(ferris, ns, "refresher")
    text = output(ferris, ns, written)
    assert "answer 200 secret TOKEN set in project (version 1)" in text
    assert "after ****" in text and token not in text  # masked from the write on

    run = finished(ferris, ns, "reader", params={"names": ["TOKEN"]})
    assert f"TOKEN {digest({'access': token})}" in output(ferris, ns, run).splitlines()

    status = wait_for(
        lambda: ferris.get(ns, "ferrisprojectsecrets", "project")["status"]["secrets"], lambda s: s["version"] == 1
    )
    assert status["names"] == ["TOKEN"] and status["count"] == 1
    seen = wait_for(
        lambda: (
            {(e["involvedObject"]["name"], e["reason"]) for e in ferris.events(ns, refused)}
            | {(e["involvedObject"]["name"], e["reason"]) for e in ferris.events(ns, written)}
            | {(e["involvedObject"]["name"], e["reason"]) for e in ferris.events(ns, "project")}
        ),
        lambda s: {(refused, "SecretWriteRefused"), (written, "SecretWritten"), ("project", "SecretWritten")} <= s,
    )
    assert {(refused, "SecretWriteRefused"), (written, "SecretWritten"), ("project", "SecretWritten")} <= seen
    assert ("project", "SecretWriteRefused") not in seen  # a refusal goes on the run, not on the scope
    listed = ferris.ferris("secret-writes", "-n", ns)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["TIME", "RUN", "PACKAGE", "SCOPE", "NAME", "VERSION", "OUTCOME"]
    assert lines[1].split()[1:] == [written, "refresher", "project", "TOKEN", "1", "written"]
    assert lines[2].split()[1:] == [refused, "refresher", "project", "TOKEN", "-", "refused"]
    assert f"{refused}: package refresher may not write project secrets" in listed.stdout
    assert token not in listed.stdout
    assert_clean("cluster objects", every_object_as_yaml(ferris), [token])
    assert_clean("the operator's log", ferris.operator_log(), [token])
    assert_clean("the server's log", ferris.stack.server_log.read_text(errors="replace"), [token])
    node_logs = ferris.node_logs()
    assert "after ****" in node_logs
    assert_clean("runner pod logs", node_logs, [token])
    dump = ferris.pg_dump()
    assert f"{written}\trefresher" in dump  # the audit row is there, by run and package
    assert_clean("pg_dump (audit rows included)", dump, [token])


def test_a_platform_write_needs_its_writers_and_grants_no_reading(
    ferris: Ferris, ns: str, platforms: list[str]
) -> None:
    tag = uuid.uuid4().hex
    name = f"e2e-writable-{tag[:8]}"
    platforms.append(name)
    apply_platform(ferris, name, {"writers": [{"namespace": ns, "package": "refresher"}]})
    ferris.wait_condition("", "ferrisplatformsecrets", name, "SecretsStored")
    ferris.package(ns, "refresher", WRITER.format(reversed_tag=tag[::-1], scope="platform"))
    ferris.package(ns, "reader", READER)
    ferris.package(ns, "stranger", WRITER.format(reversed_tag=tag[::-1], scope="platform"))
    for package in ("refresher", "reader", "stranger"):
        ferris.wait_condition(ns, "ferrispackage", package, "Ready")
    run = finished(ferris, ns, "refresher")
    assert f"answer 200 secret TOKEN set in platform/{name} (version 1)" in output(ferris, ns, run)
    stranger = finished(ferris, ns, "stranger")
    assert "answer 403 package stranger of namespace" in output(ferris, ns, stranger)
    status = wait_for(
        lambda: ferris.get("", "ferrisplatformsecrets", name)["status"]["secrets"], lambda s: s["version"] == 1
    )
    assert status["names"] == ["TOKEN"]
    reader = finished(ferris, ns, "reader", params={"names": ["TOKEN"]})
    assert "TOKEN None" in output(ferris, ns, reader).splitlines()  # no readers: nobody reads


def test_the_secret_scopes_example_refreshes_a_token_that_another_package_uses(ferris: Ferris) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "secret-scopes"
    ferris.kubectl("apply", "-k", str(example))
    ns = "ferris-scopes-demo"
    ferris.wait_condition(ns, "ferrisprojectsecrets", "project", "SecretsStored")
    assert not ferris.exists(ns, "secret", "project-secrets")  # stored, then deleted
    for package in ("token-refresher", "consumer"):
        ferris.wait_condition(ns, "ferrispackage", package, "Ready")
    refresh = finished(ferris, ns, "token-refresher")
    text = output(ferris, ns, refresh)
    assert "200 secret OAUTH_TOKEN set in project (version 2)" in text and "new token: ****" in text
    use = finished(ferris, ns, "consumer")
    assert "calling **** with a token of 28 characters" in output(ferris, ns, use)
