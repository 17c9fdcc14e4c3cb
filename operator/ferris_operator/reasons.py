"""Every reason Ferris writes into a condition or an Event, with where it appears and what a
person reads from it. The one place reasons are spelled: code uses these names, and the
"Conditions and reasons" table of docs/architecture.md lists exactly this catalogue (a test
compares the two). Pure."""

from __future__ import annotations

from dataclasses import dataclass

PACKAGE, RUN, BOTH, EVENT, TRIGGER, SOURCE, PROJECT, PLATFORM = (
    "FerrisPackage",
    "FerrisRun",
    "both",
    "Event",
    "FerrisTrigger",
    "FerrisEventSource",
    "FerrisProjectSecrets",
    "FerrisPlatformSecrets",
)
SCOPES = f"{PROJECT},{PLATFORM}"
HOLDERS = f"{PACKAGE},{SCOPES}"  # whatever takes secrets in from a Secret or a sealed text


@dataclass(frozen=True)
class Entry:
    on: str  # PACKAGE, RUN, BOTH, TRIGGER, SOURCE, a scope, HOLDERS, or EVENT (an Event only, no condition)
    meaning: str


CATALOGUE: dict[str, Entry] = {}


def _reason(name: str, on: str, meaning: str) -> str:
    CATALOGUE[name] = Entry(on, meaning)
    return name


# ---- packages -----------------------------------------------------------------------------------
READY = _reason("Ready", PACKAGE, "scripts checked and secrets stored; runs can start")
INVALID_SCRIPTS = _reason("InvalidScripts", BOTH, "a script is misnamed, missing or the scripts are too large")
SCRIPT_SOURCE_MISSING = _reason("ScriptSourceMissing", BOTH, "a script's ConfigMap or key does not exist (yet)")
SECRET_SOURCE_NOT_FOUND = _reason("SecretSourceNotFound", HOLDERS, "the `secretsFrom` Secret does not exist (yet)")
SECRET_SOURCE_NOT_MARKED = _reason(
    "SecretSourceNotMarked", HOLDERS, "the `secretsFrom` Secret is not of type `ferris.io/secrets-json`"
)
SECRET_KEY_MISSING = _reason("SecretKeyMissing", HOLDERS, "the `secretsFrom` Secret lacks the named key")
INVALID_SECRETS_JSON = _reason("InvalidSecretsJson", HOLDERS, "`secrets.json` is not a bounded JSON object")
SEALED_SECRETS_INVALID = _reason(
    "SealedSecretsInvalid", HOLDERS, "`spec.sealedSecrets` does not open for this package (or scope)"
)
SECRETS_STORED = _reason("SecretsStored", SCOPES, "the project's or platform's secrets are stored, encrypted")
SECRET_WRITTEN = _reason(
    "SecretWritten", EVENT, "a script wrote a secret into a project or platform scope (name, scope, run; no value)"
)
SECRET_WRITE_REFUSED = _reason(
    "SecretWriteRefused", EVENT, "a script's `context.secrets.set` was refused: no scope's `writers` names its package"
)
SECRETS_TOO_LARGE_FOR_ARGV = _reason(
    "SecretsTooLargeForArgv", PACKAGE, "the secrets do not fit in `sys.argv[1]`; set `secretsInArgv: false`"
)
INVALID_PARAMS_SCHEMA = _reason(
    "InvalidParamsSchema", PACKAGE, "`spec.paramsSchema` is not a valid parameters form; the message names the field"
)
INVALID_SCHEDULE = _reason(
    "InvalidSchedule",
    PACKAGE,
    "`spec.schedule` has a cron expression or time zone that cannot be used; the message names it",
)
SCHEDULE_MISSED = _reason(
    "ScheduleMissed",
    EVENT,
    "a scheduled time passed without a run: past `startingDeadlineSeconds`, the `missed` policy, or `suspend`",
)
SCHEDULE_SKIPPED = _reason(
    "ScheduleSkipped", EVENT, "a scheduled time in `spec.schedule.skip` passed: no run was made for it, as asked"
)
SCHEDULED_RUN_NAME_TAKEN = _reason(
    "ScheduledRunNameTaken",
    EVENT,
    "a FerrisRun with a scheduled time's name exists and is not that time's run of the package",
)
RETRY_NAME_TAKEN = _reason(
    "RetryNameTaken", EVENT, "a FerrisRun with a retry's name exists and is not the run the retry asked for"
)
RETRY_SCHEDULED = _reason(
    "RetryScheduled",
    EVENT,
    "the run failed for a reason its package's `spec.retries` retries: the next attempt's FerrisRun and when it starts",
)
INVALID_TRIGGER = _reason(
    "InvalidTrigger",
    TRIGGER,
    "the trigger's filter or targets cannot be used, or a target's run was refused; the message names the field",
)
LISTENING = _reason("Listening", TRIGGER, "the trigger's filter and targets are valid: matching events start runs")
TRIGGER_SUSPENDED = _reason("Suspended", TRIGGER, "`spec.suspend` is set: events are recorded and start nothing")
KEY_STORED = _reason("KeyStored", SOURCE, "the event source's HMAC key is stored, encrypted; signed events are taken")
KEY_SECRET_NOT_FOUND = _reason("KeySecretNotFound", SOURCE, "`spec.secretRef` names no Secret (yet)")
KEY_SECRET_NOT_MARKED = _reason(
    "KeySecretNotMarked", SOURCE, "the key's Secret is not of type `ferris.io/event-source-key`"
)
INVALID_KEY = _reason("InvalidKey", SOURCE, "the key's Secret lacks the named key, or the key is under 16 bytes")
EVENT_REFUSED = _reason(
    "EventRefused",
    EVENT,
    "an event's namespace cannot be routed (not watched, or the operator may not read its FerrisTriggers)",
)
TRIGGERED_RUN_NAME_TAKEN = _reason(
    "TriggeredRunNameTaken", EVENT, "a FerrisRun with an event's run name exists and is not that event's run"
)
MASTER_KEY_MISMATCH = _reason(
    "MasterKeyMismatch",
    f"{BOTH},{SOURCE},{SCOPES}",
    "a data key in the database does not open with the operator's key provider (restored beside another key?);"
    " nothing is changed until the right key is configured",
)
DATABASE_UNAVAILABLE = _reason("DatabaseUnavailable", BOTH, "PostgreSQL is down; the operator retries, nothing is lost")
KEY_PROVIDER_UNAVAILABLE = _reason(
    "KeyProviderUnavailable",
    f"{BOTH},{SOURCE},{SCOPES}",
    "the KMS plugin or transit engine that wraps data keys cannot be asked (down, unhealthy, login refused);"
    " the operator retries, nothing is re-encrypted or lost",
)
SHORT_SECRET_NOT_MASKED = _reason(
    "ShortSecretNotMasked", EVENT, "a secret is too short to be masked in output without masking ordinary text"
)

# ---- runs: in progress and finished -------------------------------------------------------------
PENDING = _reason("Pending", RUN, "children made; waiting for the runner's first report")
QUEUED = _reason("Queued", RUN, "with Kueue: its Job waits in its queue and lane to be admitted")
RUNNING = _reason("Running", RUN, "the runner is running the scripts")
SUCCEEDED = _reason("Succeeded", RUN, "every step exited 0")
STEP_FAILED = _reason("StepFailed", RUN, "a step exited non-zero; later steps were skipped")
TIMEOUT = _reason("Timeout", RUN, "the run exceeded `spec.timeoutSeconds` and was stopped")
IMAGE_PULL_BACK_OFF = _reason("ImagePullBackOff", RUN, "the runner image cannot be pulled")
RUNNER_CONFIG_ERROR = _reason("RunnerConfigError", RUN, "the runner container could not be configured")
RUNNER_FAILED = _reason("RunnerFailed", RUN, "the runner itself failed (not a script)")
RUNNER_LOST = _reason(
    "RunnerLost", RUN, "the runner was killed by a signal before it reported the run's end (process or node lost)"
)
OUT_OF_MEMORY = _reason(
    "OutOfMemory", RUN, "the runner's container was killed at its memory limit (`spec.runner.resources.limits.memory`)"
)
CANCELLED = _reason("Cancelled", RUN, "`spec.cancel` was set")
REPLACED = _reason("Replaced", RUN, "a newer run replaced it (`concurrencyPolicy: Replace`)")
RUN_DELETED = _reason("RunDeleted", RUN, "the FerrisRun was deleted before it finished")

# ---- runs: refused or waiting at start ----------------------------------------------------------
PACKAGE_NOT_FOUND = _reason("PackageNotFound", RUN, "`spec.packageRef` names no package")
PACKAGE_NOT_READY = _reason("PackageNotReady", RUN, "the package is not Ready at its current generation")
WAITING_TO_START = _reason("WaitingToStart", RUN, "the run waits for `spec.startAfter` (a retry asked for later)")
PACKAGE_NOT_RECONCILED = _reason(
    "PackageNotReconciled",
    RUN,
    "waiting for the package's current generation, or for it to be stored in the operator's database",
)
PRIORITY_LIMITED = _reason(
    "PriorityLimited",
    RUN,
    "Event: the run's `spec.priority` is more urgent than `queue.maxOverridePriority` allows; it waits at that limit",
)
CONCURRENCY_FORBIDDEN = _reason("ConcurrencyForbidden", RUN, "another run is active (`concurrencyPolicy: Forbid`)")
PACKAGE_CHANGED = _reason(
    "PackageChanged", RUN, "the Job must be made again and the package has changed since the run started"
)
PARAM_FILE_MISSING = _reason(
    "ParamFileMissing",
    RUN,
    "a file param in the run's params names a file the Ferris server never kept for this run (given with"
    " kubectl, or a retry or rerun of a run with files)",
)
SECRET_PARAMS_MISSING = _reason(
    "SecretParamsMissing",
    RUN,
    "the run names secret params (`ferris.io/secret-params`) that the Ferris server never kept for it",
)
RERUN_REFUSED = _reason(
    "RerunRefused",
    RUN,
    "`spec.rerunOf` names no ended run of the package at its generation, or the package does not allow reruns from a"
    " step",
)
SECRETS_VERSION_GONE = _reason("SecretsVersionGone", RUN, "the pinned secrets version was dropped; create a new run")
RUNNER_POLICY_VIOLATION = _reason(
    "RunnerPolicyViolation", RUN, "the run asks for what the chart's `runnerPolicy` forbids"
)
INVALID_PARAMS = _reason(
    "InvalidParams", RUN, "the run's params break the package's `paramsSchema`; the message names the param and rule"
)
FOREIGN_OBJECT = _reason(
    "ForeignObject", RUN, "an object under the run's child name carries no stamp of the operator's for this run"
)
RUN_BUDGET_EXCEEDED = _reason(
    "RunBudgetExceeded",
    RUN,
    "events and retries made more runs in the namespace in the last minute than the chart's runBudgetPerMinute",
)
SECRETS_UPLOADED = _reason(
    "SecretsUploaded", EVENT, "a user uploaded the package's secrets through the server (who, how many, version)"
)
TRIGGER_NOT_PROVEN = _reason(
    "TriggerNotProven",
    RUN,
    "`spec.trigger` is Schedule or Event and the operator did not make the run; create runs with trigger Manual",
)
RUN_KEY_INVALID = _reason("RunKeyInvalid", RUN, "the run's key Secret was changed; the run cannot start safely")
JOB_REJECTED = _reason("JobRejected", RUN, "the API server refused the run's Job")
BUNDLE_TOO_LARGE = _reason(
    "BundleTooLarge", RUN, "the run's secrets and scripts do not fit one ConfigMap; the message names what filled it"
)
BUNDLE_MISSING = _reason("BundleMissing", RUN, "the run's sealed bundle was deleted before the runner read it")
CHAIN_TOO_DEEP = _reason(
    "ChainTooDeep",
    RUN,
    "started by an event, the run would be deeper in a chain of runs than `FERRIS_MAX_CHAIN_DEPTH` (10)",
)
