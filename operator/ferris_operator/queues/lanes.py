"""Which Kueue queue and priority lane a run's Job waits in. Pure.

The Ferris executor's priorities run from 1 (most urgent) to 10: 1-3 are the fast lane, 4-7 the
default one, 8-10 the slow one. On Kueue each lane is a WorkloadPriorityClass (a higher value is
admitted first); the chart ships the three (``charts/ferris/files/kueue-lanes.yaml``, the same
names and values as ``LANES``). A run's priority is its package's ``spec.priority`` (5 when
unset), or its own ``spec.priority``, which may be no more urgent than the platform allows
(``queue.maxOverridePriority``): a run that asks for more gets that limit, and says so.

The queue is a LocalQueue of the run's namespace: the package's ``spec.queue``, else the
platform's default (``queue.defaultQueue``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
PRIORITY_CLASS_LABEL = "kueue.x-k8s.io/priority-class"
DEFAULT_PRIORITY = 5
MOST_URGENT, LEAST_URGENT = 1, 10


@dataclass(frozen=True)
class Lane:
    name: str  # the WorkloadPriorityClass
    most_urgent: int
    least_urgent: int
    value: int  # the class's value: Kueue admits higher values first


LANES = (
    Lane("ferris-fast", 1, 3, 3000),
    Lane("ferris-default", 4, 7, 2000),
    Lane("ferris-slow", 8, 10, 1000),
)


@dataclass(frozen=True)
class QueueSettings:
    """The platform's choices (chart ``kueue`` and ``queue`` values)."""

    enabled: bool = False  # FERRIS_KUEUE_ENABLED: Jobs are made suspended, for Kueue to admit
    default_queue: str = "ferris"  # FERRIS_QUEUE_DEFAULT: the LocalQueue of a package that names none
    max_override_priority: int = MOST_URGENT  # FERRIS_QUEUE_MAX_OVERRIDE_PRIORITY


@dataclass(frozen=True)
class Placement:
    queue: str
    priority: int
    lane: str
    asked: int | None = None  # a run's own priority, more urgent than allowed: raised to the limit

    @property
    def labels(self) -> dict[str, str]:
        """What Kueue reads on the Job."""
        return {QUEUE_LABEL: self.queue, PRIORITY_CLASS_LABEL: self.lane}

    def describe(self) -> str:
        return f"queue {self.queue}, priority {self.priority} ({self.lane})"


def lane_of(priority: int) -> Lane:
    return next(lane for lane in LANES if lane.most_urgent <= priority <= lane.least_urgent)


def placement(package_spec: Mapping[str, Any], run_spec: Mapping[str, Any], settings: QueueSettings) -> Placement:
    """Where a run waits. The CRDs bound both priorities to 1-10; the limit applies to the run's own."""
    priority = _bounded(package_spec.get("priority"), DEFAULT_PRIORITY)
    asked = None
    own = run_spec.get("priority")
    if own is not None:
        priority = _bounded(own, priority)
        if priority < settings.max_override_priority:
            asked, priority = priority, settings.max_override_priority
    queue = str(package_spec.get("queue") or settings.default_queue)
    return Placement(queue, priority, lane_of(priority).name, asked)


def _bounded(value: Any, default: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return min(max(number, MOST_URGENT), LEAST_URGENT)
