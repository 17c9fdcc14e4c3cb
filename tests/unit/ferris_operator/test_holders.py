"""What every holder of vault data (event sources, project and platform secrets) does when its
data key does not open: Ready False with MasterKeyMismatch, an Event, no retry loop; and when
the key provider cannot be asked: Ready False with KeyProviderUnavailable and a retry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kopf
import pytest

from ferris_operator.holders import Holders
from ferris_operator.problems import KeyProviderUnavailable, MasterKeyMismatch
from ferris_operator.settings import Settings
from tests.unit.ferris_operator.fakes import FakeKube


class Recording(FakeKube):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, str]] = []
        self.patched_status: list[tuple[Any, ...]] = []

    def patch_status(self, *args: Any) -> None:
        self.patched_status.append(args)

    def event(self, involved: dict[str, Any], kind: str, reason: str, message: str, *args: Any) -> None:
        self.events.append((kind, reason))


def test_a_data_key_that_does_not_open_is_a_condition_and_an_event_not_a_retry() -> None:
    kube = Recording()
    holders = Holders(kube, Settings(database_url="postgresql://x", master_key_dir=Path(".")))  # type: ignore[arg-type]
    written: list[dict[str, Any]] = []

    def reconcile(raw: dict[str, Any]) -> tuple[dict[str, Any], None]:
        raise MasterKeyMismatch("wrapped by master key 'k1'; Nothing was changed")

    body = {"metadata": {"name": "shared", "uid": "u", "generation": 3}, "status": {}}
    holders.reconcile("FerrisPlatformSecrets", "ferrisplatformsecrets", reconcile, body, written.append)
    [status] = written
    [ready] = status["conditions"]
    assert (ready["status"], ready["reason"]) == ("False", "MasterKeyMismatch") and status["observedGeneration"] == 3
    assert "wrapped by master key 'k1'" in ready["message"]
    assert kube.events == [("FerrisPlatformSecrets", "MasterKeyMismatch")]


def test_a_key_provider_that_cannot_be_asked_is_a_wait_with_its_reason_not_a_failure() -> None:
    kube = Recording()
    holders = Holders(kube, Settings(database_url="postgresql://x", master_key_dir=Path(".")))  # type: ignore[arg-type]

    def reconcile(raw: dict[str, Any]) -> tuple[dict[str, Any], None]:
        raise KeyProviderUnavailable("KMS v2 plugin at /run/kms.sock: Decrypt failed (UNAVAILABLE: ...)")

    body = {"metadata": {"name": "shared", "uid": "u", "generation": 3}, "status": {}}
    with pytest.raises(kopf.TemporaryError, match="waiting for the key provider"):
        holders.reconcile("FerrisPlatformSecrets", "ferrisplatformsecrets", reconcile, body, lambda status: None)
    [(plural, _, name, status)] = kube.patched_status
    assert (plural, name) == ("ferrisplatformsecrets", "shared")
    ready, reconciling = status["conditions"]
    assert (ready["type"], ready["status"], ready["reason"]) == ("Ready", "False", "KeyProviderUnavailable")
    assert (reconciling["type"], reconciling["status"]) == ("Reconciling", "True")
    assert "Decrypt failed" in ready["message"] and "nothing is re-encrypted or lost" in ready["message"]
    assert kube.events == []  # a wait that heals by itself: no Event per retry


class Listing(Recording):
    def __init__(self, *found: dict[str, Any]) -> None:
        super().__init__()
        self.found = list(found)

    def iter_custom(self, plural: str, namespaces: tuple[str, ...]) -> list[dict[str, Any]]:
        return self.found


def test_the_resync_leaves_an_object_its_handler_has_not_reconciled_yet_to_the_handler() -> None:
    def holder(name: str, observed: int | None) -> dict[str, Any]:
        status = {} if observed is None else {"observedGeneration": observed}
        return {"metadata": {"namespace": "team", "name": name, "uid": name, "generation": 2}, "status": status}

    kube = Listing(holder("done", 2), holder("new", None), holder("edited", 1))
    holders = Holders(kube, Settings(database_url="postgresql://x", master_key_dir=Path(".")))  # type: ignore[arg-type]
    reconciled: list[str] = []

    def reconcile(raw: dict[str, Any]) -> tuple[dict[str, Any], None]:
        reconciled.append(raw["metadata"]["name"])
        return raw["status"], None

    holders.resync("FerrisProjectSecrets", "ferrisprojectsecrets", reconcile, dict)
    assert reconciled == ["done"]  # a listing older than the handler's work would take the source in again
