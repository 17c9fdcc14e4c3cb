"""What PostgreSQL holds about a run and its steps, as plain values: the store reads them,
builders and services use them. Pure."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ferris_operator import model
from ferris_operator.retry_policy import RetryPolicy


@dataclass(frozen=True)
class RunRecord:
    uid: str
    namespace: str
    name: str
    package_name: str
    package_uid: str | None
    package_generation: int | None
    secrets_version: int | None
    phase: str
    reason: str | None
    message: str | None
    token_sha256: str | None
    created_at: datetime.datetime
    started_at: datetime.datetime | None
    finished_at: datetime.datetime | None
    params: dict[str, Any] | None = None  # as the run started with them (None: too large to keep)
    report_seq: int = 0  # how many reports the runner API stored for the run
    published_seq: int = 0  # the last of them the operator published in the run's status
    runner_succeeded: bool | None = None  # the runner's verdict, until the run is finished with it
    runner_message: str | None = None
    trigger: str | None = None  # Manual, Schedule, Retry, Event: what the FerrisRun says (None: older runs)
    depth: int = 0  # how many runs of an event chain came before this one
    secret_sources: dict[str, Any] | None = None  # {"sources": {name: scope}, "versions": {scope: n}}
    attempt: int = 1  # which attempt of its chain (spec.retries); 1: the first
    max_attempts: int = 1  # how many the policy allows; 1: no retries
    retry_of: str | None = None  # the FerrisRun of the attempt before
    retry_policy: dict[str, Any] | None = None  # the chain's spec.retries, as the first attempt took it
    published_phase: str | None = None  # the terminal phase its FerrisRun shows (None: no end shown yet)
    key_secret_uid: str | None = None  # the run's key Secret, as created (None: runs recorded before it was kept)

    @property
    def unpublished(self) -> bool:
        """The runner reported something the run's status does not show yet."""
        return self.report_seq > self.published_seq  # a verdict counts as a report too

    @property
    def terminal(self) -> bool:
        return self.phase in model.TERMINAL

    @property
    def end_shown(self) -> bool:
        """The run ended, its key Secret is gone and its FerrisRun shows the end."""
        return self.terminal and self.published_phase == self.phase


@dataclass(frozen=True)
class RetryRequest:
    """A run's ``context.scheduler.retry``: a later run of its package, made by the operator."""

    id: str
    run_uid: str
    namespace: str
    package_name: str
    run_name: str  # the FerrisRun to make
    start_after: datetime.datetime
    params: dict[str, Any]
    attempt: int | None = None  # an automatic retry (spec.retries): the attempt it makes; None: a script's
    depth: int = 0  # the asking run's depth in a chain of runs that start each other

    @property
    def made_depth(self) -> int:
        """The depth of the run made for it: an attempt of the same run keeps its place in the
        chain; a run a script asked for (context.scheduler.retry) is the next link."""
        return self.depth if self.attempt is not None else self.depth + 1


@dataclass(frozen=True)
class Attempt:
    """What a run made for an automatic retry inherits: its place in the chain, the chain's
    policy and the secrets version the first attempt pinned."""

    attempt: int
    max_attempts: int
    retry_of: str
    retry_policy: dict[str, Any]
    secrets_version: int | None


@dataclass(frozen=True)
class StepRecord:
    idx: int
    name: str
    phase: str
    exit_code: int | None
    started_at: datetime.datetime | None
    finished_at: datetime.datetime | None
    output: str


@dataclass(frozen=True)
class RunFilter:
    namespace: str
    package: str | None = None
    phase: str | None = None
    trigger: str | None = None
    since: datetime.datetime | None = None  # created at or after
    until: datetime.datetime | None = None  # created before
    oldest_first: bool = False  # else newest first


@dataclass(frozen=True)
class Cursor:
    """Where the previous page ended: the last run's creation time and uid."""

    created_at: datetime.datetime
    uid: str
    oldest_first: bool = False  # the order of the pages it continues


@dataclass(frozen=True)
class Overview:
    """What is going on in some namespaces, from history: per namespace, how many runs are in
    each phase (active ones, and those ended since a time); the newest active runs; the runs
    that failed since that time, newest end first."""

    counts: dict[str, dict[str, int]]
    active: list[RunRecord]
    failed: list[RunRecord]


@dataclass(frozen=True)
class StepSummary:
    step: StepRecord  # with its output left out
    output_bytes: int


@dataclass(frozen=True)
class Event:
    """A CloudEvent as Ferris keeps it: its attributes, its data (a JSON object: it becomes a
    run's params) and how deep in a chain of runs it was sent."""

    id: str
    type: str
    source: str
    namespace: str
    subject: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    depth: int = 0  # the depth of the run that sent it (0: sent from outside any run)
    also_type: str | None = None  # a second name of the type (a run's end: Ferris's and Ferris-on-Kubernetes's)


@dataclass(frozen=True)
class EventRecord:
    seq: int  # the event's place in the store: the handle the API and CLI show
    event: Event
    sent_by: str  # "run/<uid>", "user/<name>" or "source/<FerrisEventSource>"
    received_at: datetime.datetime
    routed_at: datetime.datetime | None = None
    outcome: dict[str, Any] | None = None  # what routing did: triggers matched, runs made, refusals


@dataclass(frozen=True)
class Scope:
    """A project's or the platform's secrets (their policy; values stay in the vault). ``label``
    is how runs, audit rows and status name it: ``project`` or ``platform/<name>``."""

    uid: str
    kind: str  # "project" or "platform"
    namespace: str  # the project's namespace; "" for the platform
    name: str  # the object's name
    readers: dict[str, Any]  # platform: {"namespaces": [...], "namespaceSelector": {...}}
    writers: list[dict[str, Any]]  # [{"package": P}] or, for the platform, [{"namespace": N, "package": P}]

    @property
    def label(self) -> str:
        return "project" if self.kind == "project" else f"platform/{self.name}"


@dataclass(frozen=True)
class SecretWrite:
    """A script's ``context.secrets.set``, as the audit keeps it: never the value."""

    seq: int
    at: datetime.datetime
    scope: str  # Scope.label
    name: str
    version: int | None  # the scope's version the write made (None: refused)
    outcome: str  # "written" or "refused"
    message: str
    run_uid: str
    run_namespace: str
    run_name: str
    package_name: str
    scope_uid: str | None = None


@dataclass(frozen=True)
class ScopedSecrets:
    """What a run reads beyond its package's own secrets."""

    project: dict[str, Any] = field(default_factory=dict)
    platform: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # name -> package, project or platform/<name>
    versions: dict[str, int] = field(default_factory=dict)  # scope label -> version read

    def __repr__(self) -> str:  # values never printed
        return f"ScopedSecrets(sources={self.sources}, versions={self.versions})"

    def bundle(self) -> dict[str, dict[str, Any]]:
        """The scopes as the run bundle carries them (empty ones left out)."""
        return {name: values for name, values in (("project", self.project), ("platform", self.platform)) if values}

    def record(self) -> dict[str, Any]:
        """What the run's history keeps: where each name came from and the versions, no value."""
        return {"sources": self.sources, "versions": self.versions}


@dataclass(frozen=True)
class StoredSecrets:
    version: int
    values: dict[str, Any]

    def __repr__(self) -> str:  # values never printed
        return f"StoredSecrets(version={self.version}, names={sorted(self.values)})"


@dataclass(frozen=True)
class User:
    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def key(self) -> str:
        """A stable key for caches: every field that an access review sees."""
        extra = ";".join(f"{k}={','.join(v)}" for k, v in sorted(self.extra.items()))
        return "\n".join((self.name, self.uid, ",".join(sorted(self.groups)), extra))

    def person(self) -> str:
        """One person, whatever groups they come with: the key of what is bounded per user."""
        return f"{self.name}\n{self.uid}"


@dataclass(frozen=True)
class Access:
    """What a route needs: ``verb`` on ``resource`` (a Ferris resource, with ``subresource``)."""

    verb: str
    resource: str
    subresource: str = ""
    group: str = model.GROUP

    def describe(self, namespace: str) -> str:
        what = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        return f"{self.verb} {what}.{self.group} in namespace {namespace}"


@dataclass(frozen=True)
class NewRun:
    """A run as its start records it, once (``RunStorePort.record_start``). ``secret_sources``:
    which scope each secret name came from, and the scopes' versions. ``attempt``: the run is an
    automatic retry (its chain's policy comes with it); else ``policy``: the package's
    spec.retries, which the chain this first attempt begins keeps. ``key_secret_uid``: the run's
    key Secret, which the run's end deletes by that uid. ``contents``: the package's content
    objects the run mounts, which the content sweep keeps while the run is active."""

    uid: str
    namespace: str
    name: str
    package_name: str
    package_uid: str
    generation: int
    secrets_version: int
    token_sha256: str
    steps: list[str]
    params: dict[str, Any] | None = None
    trigger: str | None = None
    depth: int = 0
    secret_sources: dict[str, Any] | None = None
    attempt: Attempt | None = None
    policy: RetryPolicy | None = None
    key_secret_uid: str | None = None
    contents: tuple[str, ...] = ()  # the package content objects its Job mounts

    def __repr__(self) -> str:  # params may be large; the rest says which run
        return f"NewRun({self.namespace}/{self.name}, uid={self.uid}, trigger={self.trigger})"


@dataclass(frozen=True)
class JoinPart:
    """One event a join waits on: its place in the store and its data."""

    seq: int
    data: dict[str, Any]
