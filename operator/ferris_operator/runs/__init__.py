"""The run lifecycle, a module a stage: start (children made once, owned, pinned), follow (Job
and pod events, runner reports, cancel), outcomes (finish exactly once, publish status),
history (lastRun, limits, TTLs) and resync (what was missed while nobody watched). `service`
puts them together behind the one object the handlers and the runner API call."""

from ferris_operator.runs.gates import RunWaiting
from ferris_operator.runs.service import RunService

__all__ = ["RunService", "RunWaiting"]
