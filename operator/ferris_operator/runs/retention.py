"""One pass of the run history's retention (store/retention.py does the deleting): finished runs
past ``FERRIS_HISTORY_RETENTION_DAYS`` go, then each namespace over
``FERRIS_HISTORY_OUTPUT_BYTES_PER_NAMESPACE`` loses its oldest runs' output. At most
``batches`` batches of each a pass, so that a first pass over a long history does not hold the
database for minutes: the next pass goes on."""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

from ferris_operator.ports import RetentionPort

log = logging.getLogger("ferris.retention")


def removed_note(namespace: str, quota: int) -> str:
    """What a step's output becomes when the quota takes it."""
    return (
        f"[output removed: namespace {namespace} keeps at most {quota} bytes of step output,"
        " and this run was among its oldest]"
    )


SECRET_PARAMS_KEPT = datetime.timedelta(hours=1)  # a run's secret params with no active run, removed after


@dataclass(frozen=True)
class RetentionPass:
    runs_removed: int
    output_bytes_removed: int
    namespaces_over_quota: int


class HistoryRetention:
    def __init__(
        self, store: RetentionPort, retention_days: float, output_quota: int, batch: int = 1000, batches: int = 20
    ) -> None:
        self.store = store
        self.retention_days = retention_days  # 0: kept for ever
        self.output_quota = output_quota  # bytes per namespace; 0: no quota
        self.batch = batch
        self.batches = batches

    def pass_once(self, now: datetime.datetime) -> RetentionPass:
        self.store.expire_secret_params(now - SECRET_PARAMS_KEPT)
        self.store.expire_param_files(now - SECRET_PARAMS_KEPT)
        removed = 0
        if self.retention_days > 0:
            older_than = now - datetime.timedelta(days=self.retention_days)
            for _ in range(self.batches):
                gone = self.store.expire_runs(older_than, self.batch)
                removed += gone
                if gone < self.batch:
                    break
        freed, over = 0, {}
        if self.output_quota > 0:
            for _ in range(self.batches):
                if self.store.count_output(self.batch) < self.batch:
                    break
            over = self.store.over_quota(self.output_quota)
            for namespace, excess in sorted(over.items()):
                note = removed_note(namespace, self.output_quota)
                left = excess
                for _ in range(self.batches):
                    went = self.store.remove_oldest_output(namespace, left, note, self.batch)
                    freed += went
                    left -= went
                    if went == 0 or left <= 0:
                        break
        if removed or freed:
            log.info(
                "history retention: %d finished runs removed, %d bytes of output removed in %d namespaces",
                removed,
                freed,
                len(over),
            )
        return RetentionPass(removed, freed, len(over))
