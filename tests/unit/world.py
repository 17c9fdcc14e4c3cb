"""One fake world for the unit tests: the Kubernetes API, the vault and the run store in memory, each a whole
implementation of its port (``mypy --strict`` checks this module against ``ferris_operator.ports``:
a port that grows a method fails the type check here, not a test at run time), a ``World`` that
seeds objects and keeps what the code under test did (status writes, Events, creates and
deletes), a clock that moves only when told, and body builders that read like the objects they
make: ``a_run("r").of("nightly").cancelled().body``.

Objects are kept by (kind, namespace, name), with the kinds' names as the API names them
("FerrisRun", "Secret", "Job" ...); the namespace of a cluster-scoped object is "".
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import hashlib
import itertools
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ferris_operator import model
from ferris_operator.bodies import (
    Condition,
    EventSourceBody,
    PackageBody,
    RunBody,
    TriggerBody,
    event_source_body,
    package_body,
    run_body,
    trigger_body,
)
from ferris_operator.ports import JoinStorePort, KubePort, RunStorePort, VaultPort
from ferris_operator.problems import MasterKeyMismatch, PackageNotStored, VersionGone
from ferris_operator.records import Attempt, JoinPart, NewRun, RetryRequest, RunRecord, StepRecord, StoredSecrets
from ferris_wire.runner_api import ParamFile

KINDS = {  # plural -> kind
    model.RUNS: "FerrisRun",
    model.PACKAGES: "FerrisPackage",
    model.TRIGGERS: "FerrisTrigger",
    model.EVENT_SOURCES: "FerrisEventSource",
    model.PROJECT_SECRETS: "FerrisProjectSecrets",
    model.PLATFORM_SECRETS: "FerrisPlatformSecrets",
}
T0 = datetime.datetime(2026, 12, 7, 10, 0, tzinfo=datetime.UTC)


class Clock:
    """Now, as the test says: it moves with ``advance`` only."""

    def __init__(self, now: datetime.datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, **delta: float) -> datetime.datetime:
        """Move on by a ``datetime.timedelta``'s fields: ``advance(minutes=1)``."""
        self.now += datetime.timedelta(**delta)
        return self.now


@dataclass(frozen=True)
class SentEvent:
    kind: str
    name: str
    reason: str
    message: str
    type: str


Key = tuple[str, str, str]  # kind, namespace, name


class FakeKube:
    """The API server in memory: what it holds, and what was asked of it."""

    def __init__(self, objects: Mapping[Key, dict[str, Any]] | None = None) -> None:
        self.objects: dict[Key, dict[str, Any]] = dict(objects or {})
        self.reads: list[Key] = []
        self.created: list[dict[str, Any]] = []
        self.deleted: list[tuple[str, str, str, str]] = []  # kind, namespace, name, uid
        self.statuses: list[tuple[str, str, str, dict[str, Any]]] = []  # plural, namespace, name, status
        self.events: list[SentEvent] = []
        self.listed: list[str] = []  # the plurals listed whole
        self.cancelled: list[tuple[str, str]] = []  # namespace, name of runs whose spec.cancel was set
        self.refusing: dict[Key, str] = {}  # a create of that object is refused with this reason
        self._uids = (f"uid-{n}" for n in itertools.count(1))

    # ---- seeding and reading back -------------------------------------------------------------
    def put(self, kind: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Hold ``body`` as the API server would (a uid and generation when it has none)."""
        stored = copy.deepcopy(dict(body))
        meta = stored.setdefault("metadata", {})
        meta.setdefault("uid", next(self._uids))
        meta.setdefault("generation", 1)
        stored.setdefault("kind", kind)
        self.objects[(kind, meta.get("namespace", ""), meta["name"])] = stored
        return stored

    def status_of(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        return dict(self.objects[(kind, namespace, name)].get("status") or {})

    def read(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        self.reads.append((kind, namespace, name))
        found = self.objects.get((kind, namespace, name))
        return copy.deepcopy(found) if found is not None else None

    def get_custom(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.read(KINDS[plural], namespace, name)

    def get_package(self, namespace: str, name: str) -> PackageBody | None:
        found = self.read("FerrisPackage", namespace, name)
        return None if found is None else package_body(found)

    def get_event_source(self, namespace: str, name: str) -> EventSourceBody | None:
        found = self.read("FerrisEventSource", namespace, name)
        return None if found is None else event_source_body(found)

    def peering(self, name: str, namespace: str = "") -> dict[str, Any] | None:
        return self.read("KopfPeering" if namespace else "ClusterKopfPeering", namespace, name)

    def create_run(self, namespace: str, body: RunBody) -> RunBody:
        meta: dict[str, Any] = dict(body["metadata"])
        meta["namespace"] = namespace
        if "name" not in meta:
            meta["name"] = meta.pop("generateName", "run-") + f"{len(self.created):05d}"
        self._create({**body, "metadata": meta, "kind": "FerrisRun"})
        return run_body(self.objects[("FerrisRun", namespace, meta["name"])])

    def patch_status(self, plural: str, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        self.statuses.append((plural, namespace, name, dict(status)))
        held = self.objects.get((KINDS[plural], namespace, name))
        if held is not None:  # a merge patch: None removes the field
            merged = {**(held.get("status") or {}), **status}
            held["status"] = {key: value for key, value in merged.items() if value is not None}

    def iter_custom(self, plural: str, namespaces: tuple[str, ...]) -> Iterator[dict[str, Any]]:
        self.listed.append(plural)
        kind = KINDS[plural]
        for (held_kind, namespace, _), body in sorted(self.objects.items()):
            if held_kind == kind and (not namespaces or namespace in namespaces):
                yield copy.deepcopy(body)

    def iter_packages(self, namespaces: tuple[str, ...]) -> Iterator[PackageBody]:
        return (package_body(b) for b in self.iter_custom(model.PACKAGES, namespaces))

    def iter_triggers(self, namespaces: tuple[str, ...]) -> Iterator[TriggerBody]:
        return (trigger_body(b) for b in self.iter_custom(model.TRIGGERS, namespaces))

    def cancel_run(self, namespace: str, name: str) -> bool:
        held = self.objects.get(("FerrisRun", namespace, name))
        if held is None:
            return False
        held["spec"]["cancel"] = True
        self.cancelled.append((namespace, name))
        return True

    def delete_run(self, namespace: str, name: str) -> None:
        found = self.objects.pop(("FerrisRun", namespace, name), None)
        self.deleted.append(("FerrisRun", namespace, name, found["metadata"]["uid"] if found else ""))

    def create_or_get(self, obj: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        key = _key(obj)
        if key in self.objects:
            return copy.deepcopy(self.objects[key]), False
        return self._create(obj), True

    def create_if_absent(self, obj: dict[str, Any]) -> bool:
        if _key(obj) in self.objects:
            return False
        self._create(obj)
        return True

    def delete_exact(self, kind: str, namespace: str, name: str, uid: str, body: dict[str, Any] | None = None) -> None:
        found = self.objects.get((kind, namespace, name))
        if found is not None and found["metadata"]["uid"] == uid:  # the uid precondition
            del self.objects[(kind, namespace, name)]
        self.deleted.append((kind, namespace, name, uid))

    def replace_configmap(self, obj: dict[str, Any], uid: str) -> None:
        key = _key(obj)
        held = self.objects.get(key)
        if held is None or held["metadata"]["uid"] != uid:
            raise LookupError(f"ConfigMap {key[1]}/{key[2]} is not the one of uid {uid}")
        replaced = copy.deepcopy(obj)
        replaced["metadata"]["uid"] = uid
        self.objects[key] = replaced

    def namespace_labels(self, namespace: str) -> dict[str, str]:
        found = self.objects.get(("Namespace", "", namespace))
        return dict((found or {}).get("metadata", {}).get("labels") or {})

    def metadata(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        found = self.read(kind, namespace, name)
        return None if found is None else {"metadata": found["metadata"]}

    def content_metadata(self, namespaces: tuple[str, ...]) -> list[dict[str, Any]]:
        return [
            {"metadata": copy.deepcopy(body["metadata"])}
            for (kind, namespace, _), body in sorted(self.objects.items())
            if kind == "ConfigMap"
            and (not namespaces or namespace in namespaces)
            and (body["metadata"].get("labels") or {}).get(model.LABEL_COMPONENT) == model.COMPONENT_CONTENT
        ]

    def annotate(self, kind: str, namespace: str, name: str, uid: str, annotations: dict[str, str]) -> bool:
        found = self.objects.get((kind, namespace, name))
        if found is None or found["metadata"]["uid"] != uid:
            return False
        meta = found["metadata"]
        meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}
        meta["resourceVersion"] = str(int(meta.get("resourceVersion") or 0) + 1)  # every write changes it
        return True

    def delete_unchanged(self, kind: str, namespace: str, name: str, uid: str, resource_version: str) -> bool:
        found = self.objects.get((kind, namespace, name))
        if found is None or (found["metadata"]["uid"], str(found["metadata"].get("resourceVersion") or "")) != (
            uid,
            resource_version,
        ):
            return False
        del self.objects[(kind, namespace, name)]
        self.deleted.append((kind, namespace, name, uid))
        return True

    def bundle_metadata(self, namespace: str, run_uids: list[str]) -> dict[str, dict[str, Any]]:
        found = {}
        for (kind, held_namespace, _), body in self.objects.items():
            run_uid = (body["metadata"].get("labels") or {}).get(model.LABEL_RUN_UID)
            if kind == "ConfigMap" and held_namespace == namespace and run_uid in run_uids:
                found[str(run_uid)] = copy.deepcopy(body["metadata"])
        return found

    def refusal(self, exc: BaseException) -> str | None:
        return str(exc) if isinstance(exc, Refusal) else None

    def list_run_pods(self, namespace: str, run_uid: str) -> list[dict[str, Any]]:
        return [
            copy.deepcopy(body)
            for (kind, held_namespace, _), body in sorted(self.objects.items())
            if kind == "Pod"
            and held_namespace == namespace
            and (body["metadata"].get("labels") or {}).get(model.LABEL_RUN_UID) == run_uid
        ]

    def job_lister(self, namespace: str | None) -> Callable[..., Any]:
        return self._lister("Job", namespace)

    def pod_lister(self, namespace: str | None) -> Callable[..., Any]:
        return self._lister("Pod", namespace)

    def run_lister(self, namespace: str | None) -> Callable[..., Any]:
        return self._lister("FerrisRun", namespace)

    def event(
        self, involved: Mapping[str, Any], kind: str, reason: str, message: str, event_type: str = "Warning"
    ) -> None:
        name = str((involved.get("metadata") or {}).get("name", ""))
        self.events.append(SentEvent(kind, name, reason, message, event_type))

    # ---- inside ---------------------------------------------------------------------------------
    def _create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        key = _key(obj)
        if key in self.refusing:
            raise Refusal(self.refusing[key])
        if key in self.objects:
            raise Conflict(f"{key[0]} {key[1]}/{key[2]} exists")
        stored = self.put(key[0], obj)
        self.created.append(copy.deepcopy(stored))
        return copy.deepcopy(stored)

    def _lister(self, kind: str, namespace: str | None) -> Callable[..., Any]:
        def listed(**_: Any) -> dict[str, Any]:
            items = [
                copy.deepcopy(body)
                for (held_kind, held_namespace, _name), body in sorted(self.objects.items())
                if held_kind == kind and namespace in (None, held_namespace)
            ]
            return {"metadata": {"resourceVersion": "1"}, "items": items}

        return listed


class Refusal(Exception):
    """The API server refused a create for good (as ``Kube.refusal`` tells it)."""


class Conflict(Exception):
    """The object exists (a 409)."""


def _key(obj: Mapping[str, Any]) -> Key:
    meta = obj["metadata"]
    return str(obj["kind"]), str(meta.get("namespace", "")), str(meta["name"])


class FakeVault:
    """The vault in memory: every holder's versions of its secrets, the packages' state."""

    def __init__(self) -> None:
        self.versions: dict[str, dict[int, dict[str, Any]]] = {}  # uid -> version -> values
        self.state: dict[str, dict[str, Any]] = {}
        self.ingested: list[tuple[str, dict[str, Any], str | None]] = []  # uid, values, source
        self.names: dict[str, str] = {}  # uid -> the name its secrets are stored under
        self.reads: list[str] = []  # the uids read
        self.forgotten: list[str] = []
        self.mismatch: str | None = None  # set: every data key fails to open, with this text
        self.run_secret_params: dict[str, tuple[str, dict[str, Any]]] = {}  # run uid -> package uid, values
        self.param_files_kept: dict[tuple[str, str], tuple[str, str, bytes]] = {}  # (run, param) -> package, name, data

    def ensure_package(self, namespace: str, name: str, uid: str) -> int:
        return max(self.versions.setdefault(uid, {}), default=0)

    def verify(self, uid: str) -> None:
        if self.mismatch is not None:
            raise MasterKeyMismatch(self.mismatch)

    def ingest(
        self,
        namespace: str,
        name: str,
        uid: str,
        secrets: dict[str, Any],
        keep_written: bool = False,
        source: str | None = None,
    ) -> int:
        self.verify(uid)
        versions = self.versions.setdefault(uid, {})
        version = max(versions, default=0) + 1
        versions[version] = dict(secrets)
        self.ingested.append((uid, dict(secrets), source))
        self.names[uid] = name
        return version

    def read(self, uid: str, version: int | None = None, missing_ok: bool = True) -> StoredSecrets:
        self.reads.append(uid)
        self.verify(uid)
        versions = self.versions.get(uid)
        if not versions:
            if missing_ok:
                return StoredSecrets(0, {})
            raise PackageNotStored(uid)
        wanted = max(versions) if version is None else version
        if wanted not in versions:
            raise VersionGone(f"secrets version {wanted} of {uid} is no longer stored")
        return StoredSecrets(wanted, dict(versions[wanted]))

    def _latest(self, uid: str) -> StoredSecrets:
        versions = self.versions.get(uid) or {0: {}}
        return StoredSecrets(max(versions), dict(versions[max(versions)]))

    def put_run_params(self, package_uid: str, run_uid: str, values: dict[str, Any]) -> None:
        self.run_secret_params.setdefault(run_uid, (package_uid, dict(values)))

    def run_params(self, package_uid: str, run_uid: str) -> dict[str, Any] | None:
        kept = self.run_secret_params.get(run_uid)
        return dict(kept[1]) if kept is not None and kept[0] == package_uid else None

    def put_param_files(self, package_uid: str, run_uid: str, files: Mapping[str, tuple[str, bytes]]) -> None:
        for param, (name, data) in files.items():
            self.param_files_kept.setdefault((run_uid, param), (package_uid, name, data))

    def param_files(self, package_uid: str, run_uid: str) -> dict[str, ParamFile]:
        return {
            param: ParamFile(param=param, name=name, bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
            for (uid, param), (pkg, name, data) in self.param_files_kept.items()
            if uid == run_uid and pkg == package_uid
        }

    def param_file(self, package_uid: str, run_uid: str, param: str) -> bytes | None:
        kept = self.param_files_kept.get((run_uid, param))
        return kept[2] if kept is not None and kept[0] == package_uid else None

    def state_get(self, package_uid: str) -> dict[str, Any]:
        return dict(self.state.get(package_uid, {}))

    def state_put(self, package_uid: str, key: str, value: Any) -> None:
        self.state.setdefault(package_uid, {})[key] = value

    def forget(self, uid: str) -> None:
        self.versions.pop(uid, None)
        self.forgotten.append(uid)

    def read_current(self, uids: list[str]) -> dict[str, StoredSecrets]:
        return {uid: self._latest(uid) for uid in uids if self.versions.get(uid)}

    def write_one(self, scope_uid: str, scope: str, name: str, value: Any, run: dict[str, str]) -> int:
        current = self._latest(scope_uid).values
        return self.ingest("", scope, scope_uid, {**current, name: value}, keep_written=True, source="write")


class FakeRunStore:
    """What PostgreSQL holds about runs, in memory: records and their steps (retry requests are
    not kept here: ``pending_retries`` is empty, ``attempt_of`` None)."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.records: dict[str, RunRecord] = {}
        self.step_records: dict[str, list[StepRecord]] = {}
        self.failed_before_start: list[tuple[str, str, str]] = []  # uid, phase, reason
        self.contents: dict[str, tuple[str, ...]] = {}  # run uid -> the content objects it mounts

    def record_start(self, new: NewRun) -> RunRecord:
        if new.uid not in self.records:
            self.contents[new.uid] = new.contents
            self.records[new.uid] = RunRecord(
                new.uid, new.namespace, new.name, new.package_name, new.package_uid, new.generation,
                new.secrets_version, model.PENDING, None, None, new.token_sha256, self.clock(), None, None,
                params=new.params, trigger=new.trigger, depth=new.depth, secret_sources=new.secret_sources,
                key_secret_uid=new.key_secret_uid,
            )  # fmt: skip
            self.step_records[new.uid] = [
                StepRecord(i, step, model.STEP_PENDING, None, None, None, "") for i, step in enumerate(new.steps)
            ]
        return self.records[new.uid]

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
    ) -> None:
        now = self.clock()
        self.failed_before_start.append((uid, phase, reason))
        self.records.setdefault(
            uid,
            RunRecord(uid, namespace, name, package_name, None, None, None, phase, reason, message, None, now, now, now,
                      trigger=trigger, depth=depth),
        )  # fmt: skip

    def set_run_key(self, uid: str, token_sha256: str, key_secret_uid: str) -> None:
        self._change(uid, token_sha256=token_sha256, key_secret_uid=key_secret_uid)

    def get(self, uid: str) -> RunRecord | None:
        return self.records.get(uid)

    def find(self, namespace: str, name: str) -> RunRecord | None:
        named = [r for r in self.records.values() if (r.namespace, r.name) == (namespace, name)]
        return max(named, key=lambda r: r.created_at) if named else None

    def finish_times(self, uids: list[str]) -> dict[str, datetime.datetime]:
        return {uid: r.finished_at for uid in uids if (r := self.records.get(uid)) and r.finished_at}

    def active(self) -> list[RunRecord]:
        return [r for r in self.records.values() if not r.terminal]

    def unpublished(self) -> list[RunRecord]:
        return [r for r in self.active() if r.unpublished]

    def active_of_package(self, namespace: str, package_name: str) -> list[tuple[str, str]]:
        return [(r.uid, r.name) for r in self.active() if (r.namespace, r.package_name) == (namespace, package_name)]

    def contents_in_use(self, namespace: str) -> set[str]:
        return {name for r in self.active() if r.namespace == namespace for name in self.contents.get(r.uid, ())}

    def known(self, namespace: str, name: str, trigger: str) -> bool:
        return any((r.namespace, r.name, r.trigger) == (namespace, name, trigger) for r in self.records.values())

    def mark_published(self, uid: str, seq: int) -> None:
        self._change(uid, published_seq=max(seq, self.records[uid].published_seq))

    def pending_retries(self, run_uid: str | None = None) -> list[RetryRequest]:
        return []

    def retry_made(self, request_id: str, made_uid: str | None = None) -> None:
        pass

    def ended_unpublished(self, limit: int = 200) -> list[RunRecord]:
        return [r for r in self.records.values() if r.terminal and r.published_phase != r.phase][:limit]

    def mark_end_published(self, uid: str, phase: str) -> None:
        held = self.records[uid]
        self._change(uid, published_phase=phase, published_seq=max(held.published_seq, held.report_seq))

    def attempt_of(self, uid: str) -> Attempt | None:
        return None

    def retry_depth(self, uid: str) -> int | None:
        return None

    def runs_made_since(self, namespace: str, triggers: tuple[str, ...], since: datetime.datetime) -> int:
        return sum(
            1
            for r in self.records.values()
            if r.namespace == namespace and r.trigger in triggers and r.created_at >= since
        )

    def retry_being_made(self, namespace: str, run_name: str) -> bool:
        return False

    def finish(self, uid: str, phase: str, reason: str, message: str) -> bool:
        record = self.records.get(uid)
        if record is None or record.terminal:
            return False
        now = self.clock()
        self._change(uid, phase=phase, reason=reason, message=message, finished_at=now,
                     started_at=record.started_at or now, token_sha256=None)  # fmt: skip
        return True

    def steps(self, uid: str, tail: int | None = None) -> list[StepRecord]:
        return list(self.step_records.get(uid, []))

    def _change(self, uid: str, **fields: Any) -> None:
        self.records[uid] = dataclasses.replace(self.records[uid], **fields)


@dataclass
class OpenPart:
    correlation: str
    part: str
    seq: int
    data: dict[str, Any]
    at: datetime.datetime
    completed: bool = False


class FakeJoinStore:
    """The events joins wait on, in memory, as ``store/joins.py`` keeps them."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, int, str], OpenPart] = {}  # trigger uid, event seq, part
        self._turns = threading.Lock()  # the store's advisory lock: offers take turns

    def offer(
        self,
        trigger_uid: str,
        correlation: str,
        part: str,
        seq: int,
        data: dict[str, Any],
        at: datetime.datetime,
        within: datetime.timedelta,
    ) -> dict[str, JoinPart]:
        with self._turns:  # the store's advisory lock: offers take turns
            for key, row in list(self.rows.items()):
                if (
                    key[0] == trigger_uid
                    and row.correlation == correlation
                    and not row.completed
                    and row.at < at - within
                ):
                    del self.rows[key]
            open_parts = self._open(trigger_uid, correlation)
            if (trigger_uid, seq, part) not in self.rows and part not in open_parts:
                self.rows[(trigger_uid, seq, part)] = OpenPart(correlation, part, seq, dict(data), at)
            return {
                name: JoinPart(row.seq, dict(row.data)) for name, row in self._open(trigger_uid, correlation).items()
            }

    def complete(self, trigger_uid: str, correlation: str, seqs: list[int]) -> None:
        with self._turns:
            for (uid, seq, _), row in self.rows.items():
                if uid == trigger_uid and row.correlation == correlation and seq in seqs:
                    row.completed = True

    def expire(self, older_than: datetime.datetime) -> int:
        gone = [key for key, row in self.rows.items() if row.completed and row.at < older_than]
        for key in gone:
            del self.rows[key]
        return len(gone)

    def _open(self, trigger_uid: str, correlation: str) -> dict[str, OpenPart]:
        return {
            row.part: row
            for (uid, _, _), row in self.rows.items()
            if uid == trigger_uid and row.correlation == correlation and not row.completed
        }


@dataclass
class World:
    """The API server, the vault and the clock one test shares."""

    kube: FakeKube = field(default_factory=FakeKube)
    vault: FakeVault = field(default_factory=FakeVault)
    clock: Clock = field(default_factory=Clock)
    store: FakeRunStore = field(init=False)

    def __post_init__(self) -> None:
        self.store = FakeRunStore(self.clock)

    def seed(self, *builders: Builder) -> World:
        for builder in builders:
            self.kube.put(builder.kind, builder.body)
        return self


# ---- body builders ------------------------------------------------------------------------------


class Builder:
    kind = ""

    def __init__(self, name: str, namespace: str) -> None:
        self._body: dict[str, Any] = {"metadata": {"namespace": namespace, "name": name}, "spec": {}}

    @property
    def body(self) -> dict[str, Any]:
        return copy.deepcopy(self._body)

    def generation(self, generation: int, observed: int | None = None) -> Any:
        self._body["metadata"]["generation"] = generation
        self._body.setdefault("status", {})["observedGeneration"] = generation if observed is None else observed
        return self

    def uid(self, uid: str) -> Any:
        self._body["metadata"]["uid"] = uid
        return self


class RunBuilder(Builder):
    kind = "FerrisRun"

    def of(self, package: str) -> RunBuilder:
        self._body["spec"]["packageRef"] = {"name": package}
        return self

    def with_params(self, **params: Any) -> RunBuilder:
        self._body["spec"]["params"] = params
        return self

    def cancelled(self) -> RunBuilder:
        self._body["spec"]["cancel"] = True
        return self

    @property
    def run(self) -> RunBody:
        return run_body(self.body)


class PackageBuilder(Builder):
    kind = "FerrisPackage"

    def __init__(self, name: str, namespace: str) -> None:
        super().__init__(name, namespace)
        self._body["spec"]["scripts"] = [{"name": "main.py", "content": "print('hello')"}]

    def secrets_from(self, secret: str) -> PackageBuilder:
        self._body["spec"]["secretsFrom"] = {"secretName": secret}
        return self

    def ready(self, status: bool = True, reason: str = "Ready", message: str = "") -> PackageBuilder:
        generation = self._body["metadata"].setdefault("generation", 1)
        condition: Condition = {
            "type": "Ready",
            "status": "True" if status else "False",
            "reason": reason,
            "message": message,
            "lastTransitionTime": model.timestamp(T0),
        }
        status_body = self._body.setdefault("status", {})
        status_body.update(observedGeneration=generation, conditions=[condition])
        return self

    @property
    def package(self) -> PackageBody:
        return package_body(self.body)


def a_run(name: str, namespace: str = "team") -> RunBuilder:
    return RunBuilder(name, namespace).of("nightly")


def a_package(name: str, namespace: str = "team") -> PackageBuilder:
    return PackageBuilder(name, namespace)


def _conforms(
    kube: FakeKube, vault: FakeVault, store: FakeRunStore, joins: FakeJoinStore
) -> tuple[KubePort, VaultPort, RunStorePort, JoinStorePort]:
    """Never called: mypy checks here that each fake is a whole implementation of its port."""
    return kube, vault, store, joins
