"""Package reconcile, in the fake world (tests/unit/world.py)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from ferris_operator.bodies import package_body
from ferris_operator.crypto.sealing import SealingKeyRing
from ferris_operator.packages.service import SOURCE_SECRET_TYPE, PackageService, short_secret_warnings
from tests.unit.world import FakeVault, World


def test_many_short_secrets_make_one_warning_not_thousands() -> None:
    warnings = short_secret_warnings({f"K{i}": "x" for i in range(20_000)})
    assert len(warnings) == 1 and "20000 secrets are shorter than 4 characters" in warnings[0]
    assert len(short_secret_warnings({"A": "1", "B": "2"})) == 2


def package(spec: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    meta = {"namespace": "team", "name": "nightly", "uid": "puid", "generation": 2}
    return {"metadata": meta, "spec": {"scripts": [{"name": "a.py", "content": "print(1)"}], **spec}, "status": status}


def source_secret(data: dict[str, bytes], kind: str = SOURCE_SECRET_TYPE) -> dict[str, Any]:
    encoded = {key: base64.b64encode(value).decode() for key, value in data.items()}
    return {"metadata": {"uid": "suid", "resourceVersion": "7"}, "type": kind, "data": encoded}


def reconcile(
    body: dict[str, Any], objects: dict[tuple[str, str, str], dict[str, Any]] | None = None, mismatch: str | None = None
) -> Any:
    world = World()
    world.kube.objects.update(objects or {})
    world.vault.mismatch = mismatch
    outcome = PackageService(world.kube, world.vault, SealingKeyRing({}, None)).reconcile(package_body(body))
    return outcome, world.kube, world.vault


def ingested(vault: FakeVault) -> list[tuple[str, dict[str, Any]]]:
    return [(uid, values) for uid, values, _ in vault.ingested]


def ready(outcome: Any) -> dict[str, Any]:
    return next(c for c in outcome.status["conditions"] if c["type"] == "Ready")


def test_a_package_with_a_marked_source_secret_is_ingested_ready_and_the_source_deleted() -> None:
    secret = source_secret({"secrets.json": b'{"API_KEY": "abcdef123"}'})
    outcome, kube, vault = reconcile(
        package({"secretsFrom": {"secretName": "src"}}), {("Secret", "team", "src"): secret}
    )
    assert outcome.problem is None and ready(outcome)["status"] == "True"
    assert ingested(vault) == [("puid", {"API_KEY": "abcdef123"})]
    assert outcome.status["secrets"]["names"] == ["API_KEY"] and "abcdef123" not in repr(outcome.status)
    assert kube.deleted == [("Secret", "team", "src", "suid")]  # exactly the Secret that was read


def test_a_package_whose_source_is_unchanged_is_not_ingested_again() -> None:
    secret = source_secret({"secrets.json": b'{"A": "abcdef"}'})
    status = {"secrets": {"source": "secret:src", "sourceDigest": "resourceVersion:7", "version": 1}}
    body = package({"secretsFrom": {"secretName": "src", "keepSource": True}}, status)
    outcome, kube, vault = reconcile(body, {("Secret", "team", "src"): secret})
    assert vault.ingested == [] and kube.deleted == [] and ready(outcome)["status"] == "True"


@pytest.mark.parametrize(
    ("spec", "objects", "reason", "retry"),
    [
        ({"secretsFrom": {"secretName": "src"}}, {}, "SecretSourceNotFound", True),
        (
            {"secretsFrom": {"secretName": "src"}},
            {("Secret", "team", "src"): source_secret({"secrets.json": b"{}"}, kind="Opaque")},
            "SecretSourceNotMarked",
            False,
        ),
        (
            {"secretsFrom": {"secretName": "src"}},
            {("Secret", "team", "src"): source_secret({"other.json": b"{}"})},
            "SecretKeyMissing",
            False,
        ),
        (
            {"secretsFrom": {"secretName": "src"}},
            {("Secret", "team", "src"): source_secret({"secrets.json": b"[1]"})},
            "InvalidSecretsJson",
            False,
        ),
        ({"scripts": []}, {}, "InvalidScripts", False),
        ({"scripts": [{"name": "../x.py", "content": ""}]}, {}, "InvalidScripts", False),
        ({"scripts": [{"name": "a.py", "configMapRef": {"name": "cm", "key": "k"}}]}, {}, "ScriptSourceMissing", True),
    ],
)
def test_a_problem_names_its_reason_and_is_stalled_unless_it_heals_by_itself(
    spec: dict[str, Any], objects: dict[tuple[str, str, str], dict[str, Any]], reason: str, retry: bool
) -> None:
    outcome, kube, vault = reconcile(package(spec), objects)
    assert outcome.problem is not None and outcome.problem.reason == reason and outcome.problem.retry is retry
    conditions = {c["type"]: c for c in outcome.status["conditions"]}
    assert conditions["Ready"]["status"] == "False" and conditions["Ready"]["reason"] == reason
    assert conditions["Stalled"]["status"] == ("False" if retry else "True")
    assert conditions["Reconciling"]["status"] == ("True" if retry else "False")
    assert vault.ingested == [] and kube.deleted == []


def test_a_package_whose_data_key_does_not_open_says_master_key_mismatch_and_stores_nothing() -> None:
    status = {"secrets": {"source": "secret:src", "sourceDigest": "resourceVersion:7", "version": 1}}
    secret = source_secret({"secrets.json": b'{"A": "abcdef"}'})
    for body in (
        package({"secretsFrom": {"secretName": "src", "keepSource": True}}, status),  # unchanged: verified
        package({"secretsFrom": {"secretName": "src"}}),  # new: its ingestion refused
    ):
        outcome, kube, vault = reconcile(body, {("Secret", "team", "src"): secret}, mismatch="wrapped by 'k1'")
        assert outcome.problem is not None and outcome.problem.reason == "MasterKeyMismatch"
        assert not outcome.problem.retry and ready(outcome)["reason"] == "MasterKeyMismatch"
        assert vault.ingested == [] and kube.deleted == []  # the source stays for when the key is back
