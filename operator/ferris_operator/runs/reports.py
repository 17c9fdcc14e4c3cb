"""What the runner reported, taken up by the operator: the runner API (in the server) stores
each report and notifies; here the run's status is published, or the run finished with the
runner's verdict. Whatever a notification missed (the operator was down, the connection
dropped) is found again through the run's ``report_seq``: see ``catch_up``."""

from __future__ import annotations

from ferris_operator import model, reasons
from ferris_operator.ports import RunStorePort
from ferris_operator.records import RunRecord
from ferris_operator.runs.outcomes import Outcomes
from ferris_operator.runs.retries import Retries
from ferris_operator.work import separately


class Reports:
    def __init__(self, store: RunStorePort, outcomes: Outcomes, retries: Retries) -> None:
        self.store = store
        self.outcomes = outcomes
        self.retries = retries

    def on_report(self, uid: str) -> None:
        self.take_up(uid)

    def take_up(self, uid: str) -> None:
        """Make the runs it asked for; publish what the runner reported, or finish the run with
        its verdict. The run is read under its lock: what is shown is never older than its end."""
        with self.outcomes.held(uid):
            record = self.store.get(uid)
            if record is None or record.terminal:
                return
            if record.runner_succeeded is not None:
                self.finish_with_verdict(record)
            else:
                self.retries.make_for(record.uid)
                self.outcomes.show(record)
            self.store.mark_published(record.uid, record.report_seq)

    def finish_with_verdict(self, record: RunRecord) -> None:
        self.retries.make_for(record.uid)  # before the run ends: the Job's path comes here too
        message = record.runner_message or ""
        if record.runner_succeeded:
            self.outcomes.finish(record.uid, model.SUCCEEDED, reasons.SUCCEEDED, message)
        else:
            self.outcomes.finish(record.uid, model.FAILED, reasons.STEP_FAILED, message)

    def catch_up(self) -> None:
        """Every active run with a report its status does not show yet, and every retry not
        made yet (of runs that ended since)."""
        self.retries.make_for(None)
        separately.each(
            "reports",
            self.store.unpublished(),
            lambda record: self.take_up(record.uid),
            lambda record: f"FerrisRun {record.namespace}/{record.name}",
        )
