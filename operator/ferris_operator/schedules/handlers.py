"""The schedules room's handlers: no kopf handler of its own (the package handlers tell the
scheduler of every package, as a ``PackageObserver``), and one loop, the scheduler's tick."""

from __future__ import annotations

import kopf

from ferris_operator.schedules.service import Scheduler
from ferris_operator.settings import Intervals
from ferris_operator.work.loops import Loop


class ScheduleHandlers:
    def __init__(self, scheduler: Scheduler, intervals: Intervals) -> None:
        self.scheduler = scheduler
        self.intervals = intervals

    def register(self, registry: kopf.OperatorRegistry) -> None:
        """No kopf handler: packages reach the scheduler through the package handlers."""

    def loops(self) -> tuple[Loop, ...]:
        return (Loop("scheduled runs", self.intervals.schedules, self.scheduler.tick),)
