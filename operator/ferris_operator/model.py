"""Names, labels, phases and conditions of Ferris objects: pure, no I/O."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from ferris_operator.bodies import Condition, PackageSpec, Script
from ferris_wire.package_folder import MAX_PACKAGE_BYTES as MAX_PACKAGE_BYTES
from ferris_wire.package_folder import SCRIPT_SUFFIXES_RUN as SCRIPT_SUFFIXES_RUN
from ferris_wire.runner_api import STEP_FAILED as STEP_FAILED
from ferris_wire.runner_api import STEP_RUNNING as STEP_RUNNING
from ferris_wire.runner_api import STEP_SKIPPED as STEP_SKIPPED
from ferris_wire.runner_api import STEP_SUCCEEDED as STEP_SUCCEEDED

GROUP = "ferris.io"
VERSION = "v1alpha1"
PACKAGES = "ferrispackages"
RUNS = "ferrisruns"
TRIGGERS = "ferristriggers"
EVENT_SOURCES = "ferriseventsources"
PROJECT_SECRETS = "ferrisprojectsecrets"
PLATFORM_SECRETS = "ferrisplatformsecrets"  # cluster-scoped
PROJECT_SECRETS_NAME = "project"  # the one FerrisProjectSecrets of a namespace
EVENTS = "ferrisevents"  # no such kind: the resource RBAC names for sending and reading events

LABEL_RUN = "ferris.io/run"
LABEL_RUN_UID = "ferris.io/run-uid"
LABEL_PACKAGE = "ferris.io/package"
LABEL_TRIGGER = "ferris.io/trigger"  # what started a run (informative: anyone who creates runs sets it)
TRIGGER_MANUAL, TRIGGER_SCHEDULE, TRIGGER_RETRY, TRIGGER_EVENT = "Manual", "Schedule", "Retry", "Event"
ANNOTATION_RETRY_OF = "ferris.io/retry-of"  # on a retry's FerrisRun: the uid of the run that asked
ANNOTATION_STAMP = "ferris.io/stamp"  # the operator's proof that it made an object (ownership.Provenance)
ANNOTATION_RETRY_STAMP = "ferris.io/retry-stamp"  # on a retry's FerrisRun: the operator's mark (crypto/run_tokens.py)
# On an event's FerrisRun: the trigger, the event ("<source> <id>") and the run's depth in its chain.
ANNOTATION_TRIGGERED_BY = "ferris.io/triggered-by"
ANNOTATION_EVENT = "ferris.io/event"
ANNOTATION_CHAIN_DEPTH = "ferris.io/chain-depth"
ANNOTATION_SECRET_PARAMS = "ferris.io/secret-params"  # noqa: S105 - names of the run's secret params, no value
ANNOTATION_BACKFILL = "ferris.io/backfill"  # on a run `ferris schedules backfill` made: its time (informative)
LABEL_COMPONENT = "app.kubernetes.io/component"
COMPONENT_CONTENT = "package-content"  # a package's files, shared by its runs (builders/package_content.py)
MANAGED_BY = {"app.kubernetes.io/managed-by": "ferris-operator", "app.kubernetes.io/part-of": "ferris"}

PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED = "Pending", "Running", "Succeeded", "Failed", "Cancelled"
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})
STEP_PENDING = "Pending"  # a step no report has reached yet; the others are the runner's (the wire's)
STEP_TERMINAL = frozenset({STEP_SUCCEEDED, STEP_FAILED, STEP_SKIPPED})

OUTPUT_TAIL_CHARS = 1024


def reconciled(body: Mapping[str, Any]) -> bool:
    """The object's handler has reconciled its current generation (status.observedGeneration)."""
    observed = (body.get("status") or {}).get("observedGeneration")
    return observed is not None and observed == body["metadata"].get("generation")


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def timestamp(moment: datetime.datetime | None = None) -> str:
    return (moment or utcnow()).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)


def child_name(run_name: str, suffix: str) -> str:
    """Deterministic child name: a restarted operator computes the same one."""
    name = f"{run_name}-{suffix}"
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(run_name.encode()).hexdigest()[:8]
    return f"{run_name[: 63 - len(suffix) - 10]}-{digest}-{suffix}"


def retry_run_name(package: str, request_id: str) -> str:
    """The FerrisRun a retry request makes: the same name however often it is made."""
    return f"{package[:36].rstrip('-.')}-retry-{request_id[:8]}"


def job_name(run_name: str) -> str:
    return child_name(run_name, "run")


def key_secret_name(run_name: str) -> str:
    return child_name(run_name, "key")


def bundle_name(run_name: str) -> str:
    return child_name(run_name, "bundle")


def condition(
    kind: str,
    status: bool | None,
    reason: str,
    message: str,
    generation: int | None,
    previous: Sequence[Mapping[str, Any]] | None = None,
    now: datetime.datetime | None = None,
) -> Condition:
    """A condition whose lastTransitionTime changes only when its status changes (to ``now``,
    the clock when not given)."""
    text = "Unknown" if status is None else ("True" if status else "False")
    last = timestamp(now)
    for old in previous or []:
        if old.get("type") == kind and old.get("status") == text:
            last = old.get("lastTransitionTime", last)
    result: Condition = {
        "type": kind,
        "status": text,
        "reason": reason,
        "message": message,
        "lastTransitionTime": last,
    }
    if generation is not None:
        result["observedGeneration"] = generation
    return result


def merge_conditions(previous: Sequence[Condition] | None, *updates: Condition) -> list[Condition]:
    by_type = {c["type"]: c for c in previous or []}
    for update in updates:
        by_type[update["type"]] = update
    return list(by_type.values())


def format_duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes}m"


def step_names(scripts: Sequence[Script], entrypoint: str | None, order: Sequence[str] | None = None) -> list[str]:
    """The scripts that run as steps, in order: the entrypoint alone, or the execution order
    given, or every .py and .sh in the order of the scripts."""
    if entrypoint:
        return [entrypoint]
    if order:
        return list(order)
    return [s["name"] for s in scripts if s["name"].endswith(SCRIPT_SUFFIXES_RUN)]


def steps_of(spec: PackageSpec) -> list[str]:
    """``step_names`` of a package's spec."""
    return step_names(spec.get("scripts") or [], spec.get("entrypoint"), spec.get("executionOrder"))


RUN_ENDED_TYPE = "ferris_executor.run_execution.execution_finished"  # the Ferris executor's name
RUN_ENDED_CE_TYPE = "io.ferris.run.finished.v1"  # the same event by Ferris on Kubernetes's own name


def run_event_source(namespace: str, name: str) -> str:
    """A run's CloudEvents source: the FerrisRun's API path (the end of the run, its events)."""
    return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{RUNS}/{name}"


def chain_depth(metadata: Mapping[str, Any]) -> int:
    """A run's depth in a chain of event-started runs, from its annotation (0: not in a chain)."""
    text = str((metadata.get("annotations") or {}).get(ANNOTATION_CHAIN_DEPTH) or "0")
    return int(text) if text.isdigit() and len(text) < 6 else 0


def event_source_path(namespace: str, name: str) -> str:
    """Where a FerrisEventSource's senders post, on the Ferris server."""
    return f"/api/v1/namespaces/{namespace}/eventsources/{name}/events"
