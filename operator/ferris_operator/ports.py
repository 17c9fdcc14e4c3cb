"""What the services need from the outside world, as Protocols: the Kubernetes API (``KubePort``,
implemented by ``k8s.objects.Kube``), run history (``RunStorePort``, ``store.runs.RunStore``)
and the secrets vault (``VaultPort``, ``vault.Vault``), with the errors and values that cross
them. Services depend on these, never on the adapters' modules, so a test's fake needs no
``type: ignore`` and an adapter can change behind its port. Pure."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ferris_operator import model
from ferris_operator.records import (
    Attempt,
    Cursor,
    Event,
    EventRecord,
    RetryRequest,
    RunFilter,
    RunRecord,
    Scope,
    ScopedSecrets,
    SecretWrite,
    StepRecord,
    StepSummary,
)
from ferris_operator.retry_policy import RetryPolicy


class Refused(Exception):
    """The API server refused an object as invalid (422); the text is the server's reason."""


class VersionGone(Exception):
    """The secrets version a run pinned is no longer stored."""


class PackageNotStored(Exception):
    """The database holds no row for the package: it was not reconciled into this database
    yet (a new or restored database, while the package's status still says Ready)."""


class MasterKeyMismatch(Exception):
    """A data key in the database does not open with the operator's master key ring; the text
    says which key wrapped it and what the ring holds. Nothing was written."""


class KeyProviderUnavailable(Exception):
    """The key provider (a KMS plugin, a transit engine) cannot be asked now: unreachable, timed
    out, or reporting itself unhealthy. Transient: nothing was written, the caller retries."""


class KeyHealthPort(Protocol):
    """The key provider's last known status (kek/health.py): readiness, and a loop re-checks it."""

    @property
    def healthy(self) -> bool: ...

    def check(self) -> object: ...


class ScopeGone(Exception):
    """The secret scope a script writes to was deleted meanwhile; nothing was written."""


class ScopeFull(Exception):
    """A script's write would take a secret scope over its number of names; nothing was written."""


class StateQuotaExceeded(Exception):
    """A ``context.state`` write would take the package over its quota; nothing was written."""


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


class ReviewPort(Protocol):
    """The API server's answers about users: who a bearer token is (None: nobody), and whether
    a user may do something (a SubjectAccessReview)."""

    def token(self, token: str) -> User | None: ...
    def access(self, user: User, access: Access, namespace: str, name: str) -> bool: ...


class KubePort(Protocol):
    def get_package(self, namespace: str, name: str) -> dict[str, Any] | None: ...
    def get_event_source(self, namespace: str, name: str) -> dict[str, Any] | None: ...
    def peering(self, name: str, namespace: str = "") -> dict[str, Any] | None: ...
    def get_custom(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """A Ferris object (cluster-scoped when ``namespace`` is ""); None when absent."""
        ...

    def create_run(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]: ...
    def patch_status(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> None: ...
    def iter_packages(self, namespaces: tuple[str, ...]) -> Iterator[dict[str, Any]]: ...
    def iter_triggers(self, namespaces: tuple[str, ...]) -> Iterator[dict[str, Any]]: ...
    def iter_custom(self, plural: str, namespaces: tuple[str, ...]) -> Iterator[dict[str, Any]]: ...
    def delete_run(self, namespace: str, name: str) -> None: ...
    def create_or_get(self, obj: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Create ``obj``, or return the stored one of that name (created: False); ``Refused``
        when the API server rejects it as invalid."""
        ...

    def create_if_absent(self, obj: dict[str, Any]) -> bool:
        """Create ``obj`` unless an object of its name exists (whoever made it); True: created."""
        ...

    def read(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None: ...
    def delete_exact(
        self, kind: str, namespace: str, name: str, uid: str, body: dict[str, Any] | None = None
    ) -> None: ...
    def replace_configmap(self, obj: dict[str, Any], uid: str) -> None: ...
    def namespace_labels(self, namespace: str) -> dict[str, str]:
        """The namespace's labels ({} when it is gone)."""
        ...

    def bundle_metadata(self, namespace: str, run_uids: list[str]) -> dict[str, dict[str, Any]]: ...
    def refusal(self, exc: BaseException) -> str | None:
        """What the API server said when it refused a request for good (a 4xx other than a
        conflict: forbidden, a quota, a namespace that is not there, an invalid object as
        ``Refused``), with its status; None for what may pass by itself (unreachable, 5xx, a
        timeout)."""
        ...

    def list_run_pods(self, namespace: str, run_uid: str) -> list[dict[str, Any]]: ...
    def job_lister(self, namespace: str | None) -> Callable[..., Any]:
        """The list/watch call of Jobs in ``namespace`` (every namespace when None), for k8s/watch.py."""
        ...

    def pod_lister(self, namespace: str | None) -> Callable[..., Any]: ...
    def run_lister(self, namespace: str | None) -> Callable[..., Any]: ...
    def event(
        self, involved: dict[str, Any], kind: str, reason: str, message: str, event_type: str = "Warning"
    ) -> None: ...


class RunStorePort(Protocol):
    def record_start(
        self,
        uid: str,
        namespace: str,
        name: str,
        package_name: str,
        package_uid: str,
        generation: int,
        secrets_version: int,
        token_sha256: str,
        steps: list[str],
        params: dict[str, Any] | None = None,
        trigger: str | None = None,
        depth: int = 0,
        secret_sources: dict[str, Any] | None = None,
        attempt: Attempt | None = None,
        policy: RetryPolicy | None = None,
        key_secret_uid: str | None = None,
    ) -> RunRecord: ...
    def record_failure_before_start(
        self,
        uid: str,
        namespace: str,
        name: str,
        package_name: str,
        phase: str,
        reason: str,
        message: str,
        depth: int = 0,
        trigger: str | None = None,
    ) -> None: ...
    def set_run_key(self, uid: str, token_sha256: str, key_secret_uid: str) -> None: ...
    def get(self, uid: str) -> RunRecord | None: ...
    def finish_times(self, uids: list[str]) -> dict[str, datetime.datetime]: ...
    def active(self) -> list[RunRecord]: ...
    def active_of_package(self, namespace: str, package_name: str) -> list[tuple[str, str]]: ...
    def known(self, namespace: str, name: str, trigger: str) -> bool: ...
    def mark_published(self, uid: str, seq: int) -> None: ...
    def pending_retries(self, run_uid: str | None = None) -> list[RetryRequest]: ...
    def retry_made(self, request_id: str, made_uid: str | None = None) -> None: ...
    def ended_unpublished(self, limit: int = 200) -> list[RunRecord]: ...
    def mark_end_published(self, uid: str, phase: str) -> None: ...
    def attempt_of(self, uid: str) -> Attempt | None: ...
    def retry_depth(self, uid: str) -> int | None: ...
    def runs_made_since(self, namespace: str, triggers: tuple[str, ...], since: datetime.datetime) -> int: ...
    def retry_being_made(self, namespace: str, run_name: str) -> bool: ...
    def finish(self, uid: str, phase: str, reason: str, message: str) -> bool: ...
    def steps(self, uid: str, tail: int | None = None) -> list[StepRecord]: ...


class EventStorePort(Protocol):
    """Stored events (``store.events.EventStore``): put by the server, routed by the operator."""

    def put(self, event: Event, sent_by: str) -> tuple[int, bool]: ...
    def get(self, namespace: str, seq: int) -> EventRecord | None: ...
    def page(self, namespace: str, before: int | None, limit: int) -> tuple[list[EventRecord], int | None]: ...
    def unrouted(self, limit: int = 100, after: int = 0) -> list[EventRecord]: ...
    def put_once_per_body(self, event: Event, sent_by: str) -> tuple[int, bool]: ...
    def routed(self, seq: int, outcome: dict[str, Any], counts: dict[str, tuple[int, int]]) -> bool: ...
    def counts(self, trigger_uid: str) -> tuple[int, int, int, EventRecord | None]: ...
    def sent_by_count(self, sent_by: str) -> int: ...
    def expire(self, older_than: datetime.datetime) -> int: ...


class RetentionPort(Protocol):
    """Run history's retention in PostgreSQL (store/retention.py)."""

    def expire_runs(self, older_than: datetime.datetime, batch: int = 1000) -> int: ...
    def count_output(self, batch: int = 1000) -> int: ...
    def over_quota(self, quota: int) -> dict[str, int]: ...
    def remove_oldest_output(self, namespace: str, excess: int, note: str, batch: int = 1000) -> int: ...


class RetryLimit(Exception):
    """A retry a run may not ask for (too many, or the run has ended); the message says why."""


class ReportBudgetSpent(Exception):
    """The run has sent as many step reports as a run may (each may rewrite 4 MiB of output)."""


class ReportPort(Protocol):
    """What runners report (the server's runner API), stored and announced to the operator."""

    def get(self, uid: str) -> RunRecord | None: ...
    def step(
        self,
        uid: str,
        idx: int,
        phase: str,
        exit_code: int | None,
        started_at: datetime.datetime | None,
        finished_at: datetime.datetime | None,
        output: str | None,
        announce: bool,
    ) -> bool:
        """False when the run has no step ``idx`` or has ended."""
        ...

    def finished(self, uid: str, succeeded: bool, message: str) -> None: ...
    def request_retry(self, record: RunRecord, start_after: datetime.datetime, params: dict[str, Any]) -> str:
        """The name of the FerrisRun the operator will make; ``RetryLimit`` when refused."""
        ...


class VaultPort(Protocol):
    """Every method may raise ``MasterKeyMismatch`` (a data key that does not open)."""

    def ensure_package(self, namespace: str, name: str, uid: str) -> int: ...
    def verify(self, uid: str) -> None: ...
    def ingest(
        self,
        namespace: str,
        name: str,
        uid: str,
        secrets: dict[str, Any],
        keep_written: bool = False,
        source: str | None = None,
    ) -> int: ...
    def read(self, uid: str, version: int | None = None, missing_ok: bool = True) -> StoredSecrets:
        """The secrets at ``version`` (the latest when None); ``VersionGone`` when dropped;
        ``PackageNotStored`` for a holder without a row, unless ``missing_ok`` (none then)."""
        ...

    def state_get(self, package_uid: str) -> dict[str, Any]: ...
    def state_put(self, package_uid: str, key: str, value: Any) -> None:
        """``StateQuotaExceeded`` when the write would take the package over its quota."""
        ...

    def forget(self, uid: str) -> None: ...
    def read_current(self, uids: list[str]) -> dict[str, StoredSecrets]: ...
    def write_one(self, scope_uid: str, scope: str, name: str, value: Any, run: dict[str, str]) -> int: ...


class ScopeStorePort(Protocol):
    def register(self, scope: Scope) -> None: ...
    def around(self, namespace: str) -> list[Scope]: ...
    def refused(
        self, scope: str, name: str, message: str, run: dict[str, str], scope_uid: str | None = None
    ) -> None: ...
    def unannounced(self, limit: int = 100) -> list[SecretWrite]: ...
    def announced(self, seqs: list[int]) -> None: ...
    def writes(self, namespace: str, limit: int = 50, before: int | None = None) -> list[SecretWrite]: ...
    def writes_of_run(self, run_uid: str) -> int: ...
    def expire_writes(self, older_than: datetime.datetime) -> int: ...


class HistoryPort(Protocol):
    """Run history as people read it (the server)."""

    def page(self, where: RunFilter, after: Cursor | None, limit: int) -> tuple[list[RunRecord], Cursor | None]: ...
    def find(self, namespace: str, name: str) -> RunRecord | None: ...
    def steps(self, uid: str) -> list[StepSummary]: ...
    def output(self, uid: str, idx: int, start: int = 0) -> StepRecord | None: ...


class ScopeReaderPort(Protocol):
    """The project's and platform's secrets a run reads at its start (``secret_scopes.reading``)."""

    def for_run(self, namespace: str, package_names: Iterable[str]) -> ScopedSecrets: ...


class PackageObserver(Protocol):
    """Another room that keeps a table of packages (the scheduler): told of every package the
    package handlers see, whatever its reconcile says, and of every one deleted."""

    def observe(self, body: dict[str, Any]) -> None: ...

    def forget(self, uid: str) -> None: ...
