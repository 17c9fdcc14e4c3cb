"""The Ferris kinds as typed bodies: what the rooms and builders read from and write to the API.

Each class mirrors a `crds/*.yaml` schema (a unit test checks every field against it, both ways).
Fields the API server may leave out are ``NotRequired`` or live in a ``total=False`` class: read
them with ``.get``. Free-form objects (params, config, a container's resources) stay
``dict[str, Any]``. The handlers take kopf's bodies at the edge and name them with these types;
nothing here validates (the CRD schema does that at admission).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NotRequired, Required, TypedDict, cast


class OwnerReference(TypedDict):
    apiVersion: str
    kind: str
    name: str
    uid: str
    controller: NotRequired[bool]
    blockOwnerDeletion: NotRequired[bool]


class ObjectMeta(TypedDict, total=False):
    name: str
    generateName: str
    namespace: str
    uid: str
    generation: int
    resourceVersion: str
    creationTimestamp: str
    deletionTimestamp: str
    labels: dict[str, str]
    annotations: dict[str, str]
    ownerReferences: list[OwnerReference]
    finalizers: list[str]


class Condition(TypedDict):
    type: str
    status: str  # "True" | "False" | "Unknown"
    reason: str
    message: str
    lastTransitionTime: str
    observedGeneration: NotRequired[int]


class Named(TypedDict):
    name: str


class SecretsFrom(TypedDict, total=False):
    secretName: str
    key: str
    keepSource: bool


class SecretsStatus(TypedDict, total=False):
    """What a scope's stored secrets are: names and a version, never a value."""

    names: list[str]
    count: int
    version: int
    source: str
    sourceDigest: str
    updatedAt: str


class PackageSecretsStatus(SecretsStatus, total=False):
    uploadedBy: str  # who uploaded them through the server


# --- FerrisPackage ---------------------------------------------------------------------------


class ConfigMapKeyRef(TypedDict, total=False):
    name: str
    key: str


class Script(TypedDict):
    name: str
    content: NotRequired[str]
    configMapRef: NotRequired[ConfigMapKeyRef]
    configMapRefs: NotRequired[list[ConfigMapKeyRef]]  # parts, joined in order (a file over 1 MiB)


class ParamsSchema(TypedDict, total=False):
    required: list[str]
    properties: dict[str, Any]


class EnvVar(TypedDict):
    name: str
    value: NotRequired[str]


class RunnerSpec(TypedDict, total=False):
    image: str
    resources: dict[str, Any]
    env: list[EnvVar]
    serviceAccountName: str
    nodeSelector: dict[str, str]
    tolerations: list[dict[str, Any]]


class Retries(TypedDict, total=False):
    limit: int
    backoffSeconds: int
    maxBackoffSeconds: int
    reasons: list[str]


class Schedule(TypedDict, total=False):
    crons: list[str]
    timeZone: str
    suspend: bool
    params: dict[str, Any]
    startingDeadlineSeconds: int
    missed: str
    maxCatchUp: int
    skip: list[str]
    jitterSeconds: int


class SqlSpec(TypedDict, total=False):
    connectionSecret: Required[str]
    transaction: str  # "single" (the default) or "perStatement"
    maxRows: int


class PackageSpec(TypedDict, total=False):
    description: str
    scripts: list[Script]
    entrypoint: str
    executionOrder: list[str]
    params: dict[str, Any]
    paramsSchema: ParamsSchema
    config: dict[str, Any]
    secretsFrom: SecretsFrom
    secretsInArgv: bool
    sealedSecrets: str
    runner: RunnerSpec
    timeoutSeconds: int
    priority: int  # 1-10, with Kueue (queues/lanes.py)
    queue: str  # a LocalQueue of the namespace, with Kueue
    ttlSecondsAfterFinished: int
    successfulRunsHistoryLimit: int
    failedRunsHistoryLimit: int
    concurrencyPolicy: str
    maskSecretsInOutput: bool
    allowRerunFromStep: bool
    retries: Retries
    schedule: Schedule
    sql: SqlSpec


class LastRun(TypedDict, total=False):
    name: str
    phase: str
    completionTime: str


class ScheduleStatus(TypedDict, total=False):
    decidedUntil: str
    lastScheduleTime: str
    lastScheduledRun: str
    nextScheduleTime: str
    missedCount: int
    offsetSeconds: int


class PackageStatus(TypedDict, total=False):
    observedGeneration: int
    secrets: PackageSecretsStatus
    warnings: list[str]
    lastRun: LastRun
    schedule: ScheduleStatus
    conditions: list[Condition]


class PackageBody(TypedDict):
    apiVersion: NotRequired[str]
    kind: NotRequired[str]
    metadata: ObjectMeta
    spec: PackageSpec
    status: NotRequired[PackageStatus]


# --- FerrisRun -------------------------------------------------------------------------------


class RunSpec(TypedDict, total=False):
    packageRef: Named
    params: dict[str, Any]
    timeoutSeconds: int
    priority: int  # 1-10, with Kueue: instead of the package's
    cancel: bool
    trigger: str
    startAfter: str
    scheduledTime: str
    rerunOf: str
    fromStep: int


class Step(TypedDict, total=False):
    name: str
    phase: str
    exitCode: int
    startedAt: str
    finishedAt: str
    outputTail: str


class RunStatus(TypedDict, total=False):
    observedGeneration: int
    phase: str
    progress: str
    duration: str
    startTime: str
    completionTime: str
    packageGeneration: int
    attempt: int
    maxAttempts: int
    attempts: str
    retryOf: str
    nextAttempt: str
    packageUID: str
    secretsVersion: int
    jobName: str
    steps: list[Step]
    conditions: list[Condition]


class RunBody(TypedDict):
    apiVersion: NotRequired[str]
    kind: NotRequired[str]
    metadata: ObjectMeta
    spec: RunSpec
    status: NotRequired[RunStatus]


# --- FerrisTrigger ---------------------------------------------------------------------------


class DataMatch(TypedDict):
    path: str
    equals: Any  # any JSON value


class TriggerFilter(TypedDict, total=False):
    type: str
    typePrefix: str
    source: str
    subject: str
    data: list[DataMatch]


class Target(TypedDict):
    packageRef: Named
    params: NotRequired[dict[str, Any]]


class JoinFilter(TriggerFilter, total=False):
    name: str


class Correlate(TypedDict):
    path: str


class Join(TypedDict):
    filters: list[JoinFilter]
    correlate: Correlate
    within: str


class TriggerSpec(TypedDict, total=False):
    filter: TriggerFilter
    join: Join
    targets: list[Target]
    suspend: bool


class LastEvent(TypedDict, total=False):
    seq: int
    id: str
    type: str
    source: str
    time: str


class TriggerStatus(TypedDict, total=False):
    observedGeneration: int
    events: int
    runs: int
    refused: int
    lastEvent: LastEvent
    conditions: list[Condition]


class TriggerBody(TypedDict):
    apiVersion: NotRequired[str]
    kind: NotRequired[str]
    metadata: ObjectMeta
    spec: TriggerSpec
    status: NotRequired[TriggerStatus]


# --- FerrisEventSource -----------------------------------------------------------------------


class SecretKeyRef(TypedDict, total=False):
    name: str
    key: str
    keepSource: bool


class Signature(TypedDict, total=False):
    header: str
    algorithm: str
    prefix: str


class EventSourceSpec(TypedDict, total=False):
    secretRef: SecretKeyRef
    signature: Signature
    eventType: str
    typeHeader: str
    idHeader: str
    maxAgeSeconds: int


class EventSourceKey(TypedDict, total=False):
    version: int
    source: str
    sourceDigest: str
    storedAt: str


class EventSourceStatus(TypedDict, total=False):
    observedGeneration: int
    path: str
    key: EventSourceKey
    conditions: list[Condition]


class EventSourceBody(TypedDict):
    apiVersion: NotRequired[str]
    kind: NotRequired[str]
    metadata: ObjectMeta
    spec: EventSourceSpec
    status: NotRequired[EventSourceStatus]


# --- FerrisProjectSecrets and FerrisPlatformSecrets ------------------------------------------


class ProjectWriter(TypedDict, total=False):
    package: str
    names: list[str]


class PlatformWriter(TypedDict, total=False):
    namespace: str
    package: str
    names: list[str]


class LabelSelectorRequirement(TypedDict, total=False):
    key: str
    operator: str
    values: list[str]


class LabelSelector(TypedDict, total=False):
    matchLabels: dict[str, str]
    matchExpressions: list[LabelSelectorRequirement]


class Readers(TypedDict, total=False):
    namespaces: list[str]
    namespaceSelector: LabelSelector


class ProjectSecretsSpec(TypedDict, total=False):
    description: str
    secretsFrom: SecretsFrom
    sealedSecrets: str
    writers: list[ProjectWriter]


class PlatformSecretsSpec(TypedDict, total=False):
    description: str
    secretsFrom: SecretsFrom
    sealedSecrets: str
    readers: Readers
    writers: list[PlatformWriter]


class ScopeStatus(TypedDict, total=False):
    observedGeneration: int
    secrets: SecretsStatus
    conditions: list[Condition]


class ProjectSecretsBody(TypedDict):
    apiVersion: NotRequired[str]
    kind: NotRequired[str]
    metadata: ObjectMeta
    spec: ProjectSecretsSpec
    status: NotRequired[ScopeStatus]


class PlatformSecretsBody(TypedDict):
    apiVersion: NotRequired[str]
    kind: NotRequired[str]
    metadata: ObjectMeta
    spec: PlatformSecretsSpec
    status: NotRequired[ScopeStatus]


ScopeBody = ProjectSecretsBody | PlatformSecretsBody


# --- at the edge -----------------------------------------------------------------------------
# kopf hands the handlers a read-only view of the object the API server sent; these copy it and
# name it. The CRD schema checked its fields at admission.


def package_body(body: Mapping[str, Any]) -> PackageBody:
    return cast(PackageBody, dict(body))


def run_body(body: Mapping[str, Any]) -> RunBody:
    return cast(RunBody, dict(body))


def trigger_body(body: Mapping[str, Any]) -> TriggerBody:
    return cast(TriggerBody, dict(body))


def event_source_body(body: Mapping[str, Any]) -> EventSourceBody:
    return cast(EventSourceBody, dict(body))


def scope_body(body: Mapping[str, Any]) -> ScopeBody:
    return cast(ScopeBody, dict(body))
