"""Starting scheduled runs. Packages with a schedule are kept in a table (filled by the
package handler, so a tick reads no package from the API server); every tick takes the
packages whose next time has come, decides (``due.decide``), makes each run under the name of
its scheduled time, records the misses as Events, and moves the package's cursor
(``status.schedule.decidedUntil``) on.

Exactly once per scheduled time: a run's name is its package and time; one that exists (made
before a restart, before the cursor's status write) is not made again, and neither is one
that PostgreSQL remembers (made, finished and deleted by the history limits). The cursor is
written after the runs, so a crash in between repeats a decision, never a run."""

from __future__ import annotations

import datetime
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from ferris_operator import model, reasons
from ferris_operator.bodies import PackageBody
from ferris_operator.builders.run_manifest import run_manifest
from ferris_operator.ownership import Provenance
from ferris_operator.ports import KubePort, RunStorePort
from ferris_operator.problems import Problem
from ferris_operator.process import metrics
from ferris_operator.schedules.due import Decision, decide, merged, offset, run_name
from ferris_operator.schedules.spec import PackageSchedule, schedule_of
from ferris_operator.work import separately

log = logging.getLogger("ferris.schedules")


@dataclass(frozen=True)
class Entry:
    namespace: str
    name: str
    uid: str
    schedule: PackageSchedule
    cursor: datetime.datetime  # every scheduled time up to it is decided
    next_time: datetime.datetime | None  # the first scheduled time after the cursor, skipped or not
    missed_count: int = 0
    offset: datetime.timedelta = datetime.timedelta()  # its runs start this long after their time

    @property
    def starts_at(self) -> datetime.datetime | None:
        return None if self.next_time is None else self.next_time + self.offset


class Scheduler:
    def __init__(
        self,
        kube: KubePort,
        store: RunStorePort,
        proof: Provenance,
        clock: Callable[[], datetime.datetime] = model.utcnow,
        workers: int = 8,
    ) -> None:
        self.kube = kube
        self.store = store
        self.proof = proof  # stamps the runs it makes; knows them by it
        self.clock = clock
        self.workers = workers
        self._entries: dict[str, Entry] = {}
        self._lock = threading.Lock()

    # ---- the table, kept by the package handler --------------------------------------------
    def observe(self, body: PackageBody) -> None:
        """A package was reconciled: keep its schedule (or forget it), its cursor from status."""
        meta, status = body["metadata"], body.get("status") or {}
        try:
            schedule = schedule_of(body.get("spec") or {})
        except Problem:
            schedule = None  # the package's reconcile reports it (Ready=False, InvalidSchedule)
        if schedule is None or meta.get("deletionTimestamp"):
            self.forget(meta["uid"])
            if status.get("schedule"):
                self.kube.patch_status(model.PACKAGES, meta["namespace"], meta["name"], {"schedule": None})
            return
        shown = status.get("schedule") or {}
        cursor = _time(shown.get("decidedUntil"))
        with self._lock:
            known = self._entries.get(meta["uid"])
        if known is not None and (cursor is None or known.cursor > cursor):
            cursor = known.cursor  # this body's status is older than what this operator wrote
        if cursor is None:
            cursor = self.clock()  # a new schedule starts now: nothing before it is due
        entry = Entry(
            meta["namespace"],
            meta["name"],
            meta["uid"],
            schedule,
            cursor,
            next(merged(schedule.schedule, cursor, skipped_too=True), None),
            int(shown.get("missedCount") or 0),
            offset(meta["namespace"], meta["name"], schedule.jitter_seconds),
        )
        with self._lock:
            self._entries[entry.uid] = entry
        wanted: dict[str, Any] = {
            "decidedUntil": _stamp(cursor),
            "nextScheduleTime": _stamp(next(merged(schedule.schedule, cursor), None)),  # the next that runs
        }
        if entry.offset or shown.get("offsetSeconds"):
            wanted["offsetSeconds"] = int(entry.offset.total_seconds()) or None
        if any(shown.get(key) != value for key, value in wanted.items()):
            self.kube.patch_status(model.PACKAGES, entry.namespace, entry.name, {"schedule": wanted})

    def forget(self, uid: str) -> None:
        with self._lock:
            self._entries.pop(uid, None)

    def entries(self) -> list[Entry]:
        with self._lock:
            return list(self._entries.values())

    # ---- the tick (schedules/handlers.py) ---------------------------------------------------------------------
    def tick(self) -> None:
        """Packages due at once (a thousand on the same minute) are taken several at a time:
        each one's runs are API calls that wait on the network, not on this process."""
        now = self.clock()
        due = [e for e in self.entries() if e.starts_at is not None and e.starts_at <= now]

        def fire(entry: Entry) -> None:
            # A jittered package decides as of its own moment: a time is due once its offset has passed.
            separately.each("schedules", [entry], lambda e: self._fire(e, now - e.offset), _describe)

        if len(due) <= 1:
            for entry in due:
                fire(entry)
            return
        with ThreadPoolExecutor(min(self.workers, len(due)), thread_name_prefix="schedules") as pool:
            list(pool.map(fire, due))

    def _fire(self, entry: Entry, now: datetime.datetime) -> None:
        decision = decide(entry.schedule.schedule, entry.cursor, now, suspended=entry.schedule.suspend)
        made = [time for time in decision.run if self._make_run(entry, time)]
        refused = len(decision.run) - len(made)
        self._report_missed(entry, decision)
        for time in decision.skipped:
            message = f"no run for {_stamp(time)}: it is in spec.schedule.skip"
            self.kube.event(_involved(entry), "FerrisPackage", reasons.SCHEDULE_SKIPPED, message, "Normal")
        missed_count = entry.missed_count + decision.missed_count + refused
        status: dict[str, Any] = {
            "decidedUntil": _stamp(decision.cursor),
            "nextScheduleTime": _stamp(decision.next_time),
            "missedCount": missed_count,
        }
        if made:
            status["lastScheduleTime"] = _stamp(made[-1])
            status["lastScheduledRun"] = run_name(entry.name, made[-1])
        self.kube.patch_status(model.PACKAGES, entry.namespace, entry.name, {"schedule": status})
        metrics.SCHEDULED_RUNS.inc(len(made))
        metrics.SCHEDULE_MISSED.inc(decision.missed_count + refused)
        with self._lock:
            if entry.uid in self._entries:  # not forgotten meanwhile
                self._entries[entry.uid] = replace(
                    self._entries[entry.uid],
                    cursor=decision.cursor,
                    next_time=decision.wake,
                    missed_count=missed_count,
                )

    def _make_run(self, entry: Entry, scheduled: datetime.datetime) -> bool:
        """Make the run of ``scheduled`` once; False when its name is taken by something else."""
        name = run_name(entry.name, scheduled)
        if self.store.known(entry.namespace, name, model.TRIGGER_SCHEDULE):
            return True  # made before (it may be gone from the cluster, its history kept)
        manifest = run_manifest(
            entry.name, entry.schedule.params, None, model.TRIGGER_SCHEDULE, name=name, scheduled=scheduled
        )
        manifest["metadata"]["namespace"] = entry.namespace
        run, created = self.kube.create_or_get(self.proof.stamp_run(manifest))
        if created or (self.proof.made_run(run) and _is_this_times_run(run, entry.name, scheduled)):
            return True
        message = (
            f"FerrisRun {name} exists and is not the scheduled run of {entry.name} for {_stamp(scheduled)};"
            " delete or rename it so that the schedule can use its name"
        )
        self.kube.event(_involved(entry), "FerrisPackage", reasons.SCHEDULED_RUN_NAME_TAKEN, message)
        return False

    def _report_missed(self, entry: Entry, decision: Decision) -> None:
        if not decision.missed_count:
            return
        why = (
            "the schedule is suspended"
            if entry.schedule.suspend
            else f"missed policy {entry.schedule.schedule.missed} with"
            + (
                f" startingDeadlineSeconds {int(entry.schedule.schedule.starting_deadline.total_seconds())}"
                if entry.schedule.schedule.starting_deadline
                else "out a deadline"
            )
        )
        for time in decision.missed:
            self.kube.event(
                _involved(entry), "FerrisPackage", reasons.SCHEDULE_MISSED, f"no run for {_stamp(time)}: {why}"
            )
        rest = decision.missed_count - len(decision.missed)
        if rest > 0:
            self.kube.event(
                _involved(entry),
                "FerrisPackage",
                reasons.SCHEDULE_MISSED,
                f"and {rest} more scheduled times up to {_stamp(decision.cursor)} without a run: {why}",
            )


def _is_this_times_run(run: dict[str, Any], package: str, scheduled: datetime.datetime) -> bool:
    spec = run.get("spec") or {}
    return (
        (spec.get("packageRef") or {}).get("name") == package
        and spec.get("trigger") == model.TRIGGER_SCHEDULE
        and spec.get("scheduledTime") == _stamp(scheduled)
    )


def _involved(entry: Entry) -> dict[str, Any]:
    return {"metadata": {"namespace": entry.namespace, "name": entry.name, "uid": entry.uid}}


def _describe(entry: Entry) -> str:
    return f"FerrisPackage {entry.namespace}/{entry.name}"


def _stamp(moment: datetime.datetime | None) -> str | None:
    return model.timestamp(moment) if moment is not None else None


def _time(text: Any) -> datetime.datetime | None:
    try:
        return model.parse_timestamp(str(text)) if text else None
    except ValueError:
        return None
