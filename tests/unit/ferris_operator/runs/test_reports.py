"""A run's status is published in order: a report read before the run ended never lands after its end."""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

from ferris_operator import model
from ferris_operator.records import RunRecord
from tests.unit.ferris_operator.fakes import FakeKube, FakeStore, record, service


class StatusKube(FakeKube):
    def __init__(self) -> None:
        super().__init__()
        self.phases: list[str] = []

    def patch_status(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        if "phase" in status:
            self.phases.append(status["phase"])


class SlowReadStore(FakeStore):
    """A store whose first read by the report's thread is slow: long enough for the run to end
    meanwhile, if nothing holds the run's end back until the report is shown."""

    def __init__(self, run: RunRecord, reader: str) -> None:
        super().__init__(dataclasses.replace(run, report_seq=1))
        self.reader = reader
        self.reading = threading.Event()
        self.slow = True

    def get(self, uid: str) -> RunRecord | None:
        found = super().get(uid)
        if threading.current_thread().name == self.reader and self.slow:
            self.slow = False
            self.reading.set()
            threading.Event().wait(0.3)  # the verdict's thread tries to finish the run now
        return found

    def finish(self, uid: str, phase: str, reason: str, message: str) -> bool:
        self.records[uid] = dataclasses.replace(self.records[uid], phase=phase, reason=reason)
        return super().finish(uid, phase, reason, message)

    def pending_retries(self, uid: str | None) -> list[Any]:
        return []

    def mark_published(self, uid: str, seq: int) -> None:
        pass


def test_a_report_read_before_the_run_ended_is_never_shown_after_its_end() -> None:
    store = SlowReadStore(record("u", "a", "r"), reader="report")
    kube = StatusKube()
    runs = service(kube, store)
    report = threading.Thread(target=runs.reports.on_report, args=("u",), name="report")
    report.start()
    assert store.reading.wait(5)
    runs.outcomes.finish("u", model.SUCCEEDED, "Succeeded", "done")  # the Job's end, while the report is read
    report.join(5)
    assert kube.phases[-1] == model.SUCCEEDED, kube.phases


def test_a_report_of_a_run_that_has_ended_publishes_nothing() -> None:
    store = SlowReadStore(dataclasses.replace(record("u", "a", "r"), phase=model.FAILED), reader="nobody")
    kube = StatusKube()
    service(kube, store).reports.on_report("u")
    assert kube.phases == []
