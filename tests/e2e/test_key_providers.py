"""The master key moved out of Kubernetes on a live cluster: the operator and the server switched
to the test KMS v2 plugin with a run in flight, every data key rewrapped by `ferris keys rewrap`,
the ring unmounted, runs still going; the plugin stopped (readiness says so, a new package waits
with KeyProviderUnavailable, cached keys keep runs going) and started again; then everything
moved back to the ring; and transit's Kubernetes auth with a real TokenReview. Its own stack:
the other tests keep the ring."""

from __future__ import annotations

import base64
import contextlib
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ferris_devcluster.kms import KmsPlugin
from ferris_devcluster.openbao import OpenBao
from ferris_devcluster.stack import OPERATOR_NAMESPACE, FerrisStack
from ferris_operator.crypto.keyring import load_keyring
from ferris_operator.kek.base import KeyRejected
from ferris_operator.kek.secret_ring import SecretRingProvider
from ferris_operator.kek.transit import TransitProvider
from ferris_operator.store.vault import wrapped_of
from tests.e2e.conftest import Ferris

pytestmark = pytest.mark.cluster
CANARY = "kek-canary-" + uuid.uuid4().hex
SCRIPT = (
    "import time\nfrom ferris_ef import get_secret\ntime.sleep({sleep})\nprint('length', len(get_secret('TOKEN')))\n"
)


@pytest.fixture(scope="module")
def kms() -> Iterator[KmsPlugin]:
    with KmsPlugin() as plugin:
        yield plugin


@pytest.fixture(scope="module")
def world() -> Iterator[Ferris]:
    with FerrisStack() as stack:
        yield Ferris(stack)


def restart(ferris: Ferris, **env: str) -> None:
    """The operator and the server started again with these key settings (as a Helm upgrade rolls both)."""
    stack = ferris.stack
    stack.stop_operator()
    stack.stop_server()
    stack.operator_env = env
    stack.start_server()
    stack.start_operator()


def providers(ferris: Ferris) -> set[str]:
    with psycopg.connect(ferris.stack.postgres.url) as conn:
        rows = conn.execute("SELECT kek_provider FROM packages UNION SELECT kek_provider FROM service_keys")
        return {str(row[0]) for row in rows}


def ring_opens(ferris: Ferris) -> dict[str, bytes]:
    """The data keys the stack's key ring really opens (an unwrap tried on every row, whatever
    its provider column says): uid -> the data key."""
    provider = SecretRingProvider(load_keyring(ferris.stack.key_dir))
    with psycopg.connect(ferris.stack.postgres.url) as conn:
        rows = conn.execute("SELECT uid, wrapped_dek, kek_provider, kek_id, kek_annotations FROM packages").fetchall()
    opened = {}
    for uid, *columns in rows:
        with contextlib.suppress(KeyRejected):
            opened[str(uid)] = provider.unwrap(str(uid), wrapped_of(columns))
    return opened


def ready(ferris: Ferris) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ferris.stack.health_port}/readyz", timeout=2):
            return True
    except urllib.error.HTTPError:
        return False


def until(condition: object, what: str, timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def succeeded(ferris: Ferris, ns: str, run: str) -> None:
    found = ferris.wait_run(ns, run, timeout=150)
    assert found["status"]["phase"] == "Succeeded", found["status"]
    assert ferris.steps(found["metadata"]["uid"])[0][4].strip() == f"length {len(CANARY)}"


@pytest.mark.long
def test_the_ring_to_a_kms_and_back_with_runs_in_flight(world: Ferris, kms: KmsPlugin) -> None:
    ferris, ns = world, "kek-" + uuid.uuid4().hex[:6]
    ferris.kubectl("create", "namespace", ns)
    ferris.secret(ns, "src", json.dumps({"TOKEN": CANARY}))
    ferris.package(ns, "slow", SCRIPT.format(sleep=8), secretsFrom={"secretName": "src"})
    ferris.wait_condition(ns, "ferrispackage", "slow", "Ready")
    in_flight = ferris.create_run(ns, "slow")
    until(lambda: ferris.get(ns, "ferrisrun", in_flight).get("status", {}).get("phase") == "Running", "a running run")

    to_kms = {"FERRIS_KEY_PROVIDER": "kms-v2", "FERRIS_KMS_SOCKET": str(kms.socket)}
    restart(ferris, **to_kms)  # the ring stays mounted: its data keys still open
    ferris.secret(ns, "src-2", json.dumps({"TOKEN": CANARY}))
    ferris.package(ns, "fresh", SCRIPT.format(sleep=0), secretsFrom={"secretName": "src-2"})
    ferris.wait_condition(ns, "ferrispackage", "fresh", "Ready")
    assert providers(ferris) == {"secret-ring", "kms-v2"}
    data_keys = ring_opens(ferris)
    assert data_keys  # the ring opens the keys it wrapped: the check below can fail
    rewrap = ferris.ferris("keys", "rewrap")
    assert rewrap.returncode == 0 and "all data keys are wrapped by kms-v2 key kms-key-1" in rewrap.stdout, rewrap
    assert providers(ferris) == {"kms-v2"}
    assert ring_opens(ferris) == {}  # tried on every row: the ring's files open nothing now
    succeeded(ferris, ns, in_flight)  # started under the ring, reported across both restarts

    restart(ferris, **to_kms, FERRIS_MASTER_KEY_DIR="")  # the ring unmounted
    for package in ("slow", "fresh"):
        succeeded(ferris, ns, ferris.create_run(ns, package))

    kms.stop()
    until(lambda: not ready(ferris), "readiness to follow the plugin")
    ferris.secret(ns, "src-3", json.dumps({"TOKEN": CANARY}))
    ferris.package(ns, "waiting", SCRIPT.format(sleep=0), secretsFrom={"secretName": "src-3"})
    condition = ferris.wait_condition(ns, "ferrispackage", "waiting", "KeyProviderUnavailable")
    assert "Encrypt failed" in condition["message"] and CANARY not in condition["message"]
    succeeded(ferris, ns, ferris.create_run(ns, "fresh"))  # its data key is cached: a blip stops no run
    kms.start()
    ferris.wait_condition(ns, "ferrispackage", "waiting", "Ready")
    until(lambda: ready(ferris), "readiness back")

    back = {"FERRIS_KEY_PROVIDER": "secret-ring", "FERRIS_KMS_SOCKET": str(kms.socket)}
    restart(ferris, **back)
    rewrap = ferris.ferris("keys", "rewrap")
    assert rewrap.returncode == 0 and "all data keys are wrapped by secret-ring key k1" in rewrap.stdout, rewrap
    assert providers(ferris) == {"secret-ring"}
    restart(ferris)  # the KMS no longer configured
    succeeded(ferris, ns, ferris.create_run(ns, "waiting"))
    for surface in (ferris.pg_dump(), ferris.operator_log(), ferris.stack.server_log.read_text()):
        assert CANARY not in surface
    # The plugin never sees a secret, only data keys (to wrap them): none of those in its log.
    kms_log = kms.log()
    for key in data_keys.values():
        assert base64.b64encode(key).decode() not in kms_log and key.hex() not in kms_log


def test_transit_logs_in_with_the_service_account_token_and_refuses_another(world: Ferris, tmp_path: Path) -> None:
    """Kubernetes auth as the chart's `keyProvider.transit.role` sets it up: the pods log in with
    a ServiceAccount token projected for the engine's audience (`vault`), never their own API
    token; OpenBao reviews it at this cluster's API server (TokenReview, with that audience) as a
    reviewer of its own, and gives a token with the transit policy only to the bound account."""
    world.kubectl("create", "serviceaccount", "ferris-kek", "-n", OPERATOR_NAMESPACE)
    world.kubectl("create", "serviceaccount", "bao-reviewer", "-n", OPERATOR_NAMESPACE)
    world.kubectl(
        "create",
        "clusterrolebinding",
        "bao-reviewer-tokenreview",
        "--clusterrole=system:auth-delegator",
        f"--serviceaccount={OPERATOR_NAMESPACE}:bao-reviewer",
    )
    bound, other, api_token = tmp_path / "bound", tmp_path / "other", tmp_path / "api"
    token = world.kubectl("create", "token", "ferris-kek", "-n", OPERATOR_NAMESPACE, "--audience", "vault")
    bound.write_text(token.stdout.strip())
    other.write_text(world.kubectl("create", "token", "default", "-n", "default", "--audience", "vault").stdout.strip())
    api_token.write_text(world.kubectl("create", "token", "ferris-kek", "-n", OPERATOR_NAMESPACE).stdout.strip())
    reviewer = world.kubectl("create", "token", "bao-reviewer", "-n", OPERATOR_NAMESPACE).stdout.strip()
    cluster = world.stack.cluster
    with OpenBao() as bao:
        bao.call("POST", "sys/auth/kubernetes", {"type": "kubernetes"})
        bao.call(
            "POST",
            "auth/kubernetes/config",
            {
                "kubernetes_host": cluster.server,
                "kubernetes_ca_cert": (cluster.directory / "pki" / "ca.crt").read_text(),
                "token_reviewer_jwt": reviewer,  # the engine's own reviewer: the login token is not one
                "disable_local_ca_jwt": True,
            },
        )
        bao.call(
            "POST",
            "auth/kubernetes/role/ferris",
            {
                "bound_service_account_names": ["ferris-kek"],
                "bound_service_account_namespaces": [OPERATOR_NAMESPACE],
                "audience": "vault",
                "token_policies": ["ferris-transit"],
                "token_ttl": "1h",
            },
        )
        provider = TransitProvider(bao.address, "ferris", role="ferris", jwt_file=bound)
        status = provider.status()
        assert status.healthy, status.message
        assert provider.unwrap("uid-1", provider.wrap("uid-1", CANARY.encode())) == CANARY.encode()
        refused = TransitProvider(bao.address, "ferris", role="ferris", jwt_file=other).status()
        assert not refused.healthy and "Kubernetes login as role 'ferris' refused" in refused.message
        # The account's API token (the audience the API server takes) is not the engine's.
        api_audience = TransitProvider(bao.address, "ferris", role="ferris", jwt_file=api_token).status()
        assert not api_audience.healthy and "refused" in api_audience.message
        assert CANARY not in bao.log()
