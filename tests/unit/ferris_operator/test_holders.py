"""What every holder of vault data (event sources, project and platform secrets) does when its
data key does not open: Ready False with MasterKeyMismatch, an Event, no retry loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ferris_operator.holders import Holders
from ferris_operator.ports import MasterKeyMismatch
from ferris_operator.settings import Settings
from tests.unit.ferris_operator.fakes import FakeKube


class Recording(FakeKube):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, str]] = []

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
