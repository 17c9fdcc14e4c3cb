"""The gates a run passes before anything is made for it, in order. Each is pure, ``(facts,
settings) -> Problem | None``; a ``RunWaiting`` (a Problem that heals by itself) says when to
look again. The facts are read on first use (``StartFacts`` in ``runs/start.py``): a run that
waits for its start time reads no package, a manual run counts no budget, a refused trigger
reads nothing. The clock is one of the facts.

A run that started before (a restart, a child lost) passes only the package's existence: its
start time, trigger, depth and budget were weighed when it started, and it keeps the package
generation and secrets version it pinned then."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from ferris_operator import model, reasons
from ferris_operator.bodies import Condition, PackageBody, RunBody
from ferris_operator.packages import params_schema
from ferris_operator.problems import Problem
from ferris_operator.records import RunRecord
from ferris_operator.settings import Settings
from ferris_wire.runner_api import ParamFile

MAX_WAIT_STEP = 60.0  # a waiting run looks again at least this often (its time may be edited away)
BUDGETED_TRIGGERS = (model.TRIGGER_EVENT, model.TRIGGER_RETRY)  # runs that runs make
BUDGET_WINDOW = datetime.timedelta(minutes=1)


class RunWaiting(Problem):
    """The run cannot start yet for a reason that heals by itself; retry later (after
    ``delay`` seconds when the run knows how long, else the handler's usual interval)."""

    def __init__(self, reason: str, message: str, delay: float | None = None) -> None:
        super().__init__(reason, message, retry=True)
        self.delay = delay


class Facts(Protocol):
    """What the gates read about one run."""

    @property
    def now(self) -> datetime.datetime: ...
    @property
    def run(self) -> RunBody: ...
    @property
    def started(self) -> bool:
        """The run was recorded as started before."""
        ...

    @property
    def package(self) -> PackageBody | None: ...
    @property
    def trigger(self) -> str | None:
        """``spec.trigger`` where Ferris can vouch for it (ownership.Provenance.proven_trigger)."""
        ...

    @property
    def depth(self) -> int:
        """The run's depth in a chain of runs that start each other."""
        ...

    @property
    def budgeted_runs(self) -> int:
        """The runs events and retries made in the run's namespace within ``BUDGET_WINDOW``."""
        ...

    @property
    def secret_params(self) -> dict[str, Any] | None:
        """The run's secret params as the server kept them (None: none kept)."""
        ...

    @property
    def param_files(self) -> dict[str, ParamFile]:
        """What the server kept for the run's file params, by param (name, size, SHA-256)."""
        ...

    @property
    def rerun_of(self) -> RunRecord | None:
        """The newest run named ``spec.rerunOf`` in the run's namespace, as PostgreSQL holds it."""
        ...


Gate = Callable[[Facts, Settings], Problem | None]


def start_time(facts: Facts, settings: Settings) -> Problem | None:
    """A run with ``spec.startAfter`` to come waits (Pending, WaitingToStart) until then; the
    wait survives restarts: it is the spec, read again at every attempt."""
    text = facts.run["spec"].get("startAfter")
    if facts.started or not text:
        return None
    moment = datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))  # the CRD checked the format
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    remaining = (moment - facts.now).total_seconds()
    if remaining <= 0:
        return None
    return RunWaiting(reasons.WAITING_TO_START, f"starts at {text} (spec.startAfter)", min(remaining, MAX_WAIT_STEP))


def proven_trigger(facts: Facts, settings: Settings) -> Problem | None:
    """A run that says a schedule or a trigger made it must carry the operator's stamp (a
    FerrisRun anyone made under a scheduled time's or an event's name is not that run)."""
    if facts.started or facts.trigger is not None:
        return None
    claimed = facts.run["spec"].get("trigger")
    return Problem(
        reasons.TRIGGER_NOT_PROVEN,
        f"spec.trigger is {claimed}, but the operator did not make this FerrisRun (it carries no stamp of the"
        f" operator's for its name): only the package's schedule and FerrisTriggers make {claimed} runs."
        " Create runs with spec.trigger Manual (or leave it out)",
    )


def chain_depth(facts: Facts, settings: Settings) -> Problem | None:
    limit = settings.max_chain_depth
    if facts.started or facts.depth <= limit:
        return None
    event = (facts.run["metadata"].get("annotations") or {}).get(model.ANNOTATION_EVENT, "?")
    return Problem(
        reasons.CHAIN_TOO_DEEP,
        f"started by event {event!r}, this run would be run {facts.depth} of a chain of runs that start each"
        f" other; the limit is {limit} (FERRIS_MAX_CHAIN_DEPTH): check the triggers for a loop",
    )


def budget(facts: Facts, settings: Settings) -> Problem | None:
    """Runs that events and retries make in a namespace are bounded per minute."""
    allowed = settings.run_budget_per_minute
    if facts.started or allowed <= 0 or facts.trigger not in BUDGETED_TRIGGERS:
        return None
    made = facts.budgeted_runs
    if made < allowed:
        return None
    namespace = facts.run["metadata"]["namespace"]
    return Problem(
        reasons.RUN_BUDGET_EXCEEDED,
        f"events and retries made {made} runs in namespace {namespace} in the last minute; the budget is"
        f" {allowed} (the chart's runBudgetPerMinute): look for a trigger or a retry that loops",
    )


def package_exists(facts: Facts, settings: Settings) -> Problem | None:
    if facts.package is not None:
        return None
    namespace, name = facts.run["metadata"]["namespace"], facts.run["spec"]["packageRef"]["name"]
    return Problem(
        reasons.PACKAGE_NOT_FOUND,
        f"FerrisPackage {namespace}/{name} does not exist; create it, then create a new FerrisRun",
    )


def package_ready(facts: Facts, settings: Settings) -> Problem | None:
    """A new run takes the package only as its handler reconciled its current generation, Ready."""
    package = facts.package
    if facts.started or package is None:
        return None
    name = package["metadata"].get("name", "")
    ready = _ready(package)
    observed = (package.get("status") or {}).get("observedGeneration")
    if ready is None or observed != package["metadata"].get("generation"):
        return RunWaiting(reasons.PACKAGE_NOT_RECONCILED, f"waiting for FerrisPackage {name} to be reconciled")
    if ready.get("status") == "True":
        return None
    if ready.get("reason") == reasons.MASTER_KEY_MISMATCH:
        return Problem(reasons.MASTER_KEY_MISMATCH, f"FerrisPackage {name}: {ready.get('message', '')}")
    return Problem(
        reasons.PACKAGE_NOT_READY,
        f"FerrisPackage {name} is not Ready ({ready.get('reason')}): {ready.get('message', '')}",
    )


SECRET_PARAMS_WAIT = datetime.timedelta(seconds=60)  # the server keeps them right after it made the run


def secret_params(facts: Facts, settings: Settings) -> Problem | None:
    """A secret param (paramsSchema ``secret: true``) never in the FerrisRun's spec; a run that
    names secret params (the server's annotation) waits for the server to have kept them."""
    package = facts.package
    if facts.started or package is None:
        return None
    schema = package["spec"].get("paramsSchema")
    written = sorted(params_schema.secret_names(schema) & set(facts.run["spec"].get("params") or {}))
    if written:
        return Problem(
            reasons.INVALID_PARAMS,
            f"spec.params.{written[0]} is a secret param (paramsSchema): it must not be written in a FerrisRun."
            " Delete this run, and give it through the Ferris server: ferris run -s NAME=VALUE, or the console",
        )
    meta = facts.run["metadata"]
    if not (meta.get("annotations") or {}).get(model.ANNOTATION_SECRET_PARAMS) or facts.secret_params is not None:
        return None
    created = meta.get("creationTimestamp")
    made = datetime.datetime.fromisoformat(str(created).replace("Z", "+00:00")) if created else facts.now
    if facts.now - made < SECRET_PARAMS_WAIT:
        return RunWaiting(
            reasons.WAITING_TO_START, "waiting for the Ferris server to keep the run's secret params", 1.0
        )
    return Problem(
        reasons.SECRET_PARAMS_MISSING,
        f"the run names secret params ({model.ANNOTATION_SECRET_PARAMS}) that the Ferris server never kept for"
        " it: start runs with secret params through the server (ferris run -s, the console), not kubectl",
    )


def rerun_allowed(facts: Facts, settings: Settings) -> Problem | None:
    """A rerun from a step (``spec.rerunOf``, ``fromStep``) skips the steps before it: only of a
    package that allows it, of an ended run of that package, at the generation that run ran
    (the same scripts), and from a step the package has."""
    spec, package = facts.run["spec"], facts.package
    name = spec.get("rerunOf")
    if facts.started or not name or package is None:
        return None
    package_name, step = package["metadata"].get("name", ""), int(spec.get("fromStep") or 1)
    if not package["spec"].get("allowRerunFromStep"):
        return Problem(
            reasons.RERUN_REFUSED,
            f"spec.rerunOf: FerrisPackage {package_name} does not allow reruns from a step; its author may set"
            " spec.allowRerunFromStep: true",
        )
    ended = facts.rerun_of
    if ended is None or ended.package_name != package_name or not ended.terminal:
        return Problem(
            reasons.RERUN_REFUSED,
            f"spec.rerunOf: no ended run {name} of FerrisPackage {package_name} in this namespace; name one that ended",
        )
    generation = package["metadata"].get("generation")
    if ended.package_generation != generation:
        return Problem(
            reasons.RERUN_REFUSED,
            f"spec.rerunOf: FerrisPackage {package_name} changed since run {name} (generation"
            f" {ended.package_generation}, now {generation}), so its steps are not the ones that ran; rerun it whole",
        )
    steps = len(model.steps_of(package["spec"]))
    if step > steps:
        return Problem(reasons.RERUN_REFUSED, f"spec.fromStep: {step}, but the package has {steps} steps")
    return None


def runner_allowed(facts: Facts, settings: Settings) -> Problem | None:
    """What the package asks of its runner pod, against the cluster's runner policy."""
    if facts.started or facts.package is None:
        return None
    try:
        settings.runner_policy.check(facts.package["spec"].get("runner") or {}, settings.runner_image)
    except Problem as refused:
        return refused
    return None


def param_files(facts: Facts, settings: Settings) -> Problem | None:
    """A file param's value in the run's params is only the file's name and size: the file
    itself must be one the server kept for this very run (uploaded with it). A run made with
    kubectl, or a retry or rerun of a run with files, has none: it fails, naming the way."""
    package = facts.package
    if facts.started or package is None:
        return None
    schema = package["spec"].get("paramsSchema")
    params = {**(package["spec"].get("params") or {}), **(facts.run["spec"].get("params") or {})}
    named = sorted(params_schema.file_names(schema) & set(params))
    if not named:
        return None
    kept = facts.param_files
    for name in named:
        file = kept.get(name)
        value = params[name]
        if (
            file is not None
            and isinstance(value, dict)
            and (value.get("file"), value.get("bytes"))
            == (
                file["name"],
                file["bytes"],
            )
        ):
            continue
        created = facts.run["metadata"].get("creationTimestamp")
        made = datetime.datetime.fromisoformat(str(created).replace("Z", "+00:00")) if created else facts.now
        if not kept and facts.now - made < SECRET_PARAMS_WAIT:
            return RunWaiting(reasons.WAITING_TO_START, "waiting for the Ferris server to keep the run's files", 1.0)
        return Problem(
            reasons.PARAM_FILE_MISSING,
            f"spec.params.{name} is a file param, and the Ferris server kept no such file for this run: upload the"
            f" file with a new run through the server (ferris run -p {name}=@PATH, or the console's Run form);"
            " retries and reruns do not carry uploaded files",
        )
    return None


GATES: tuple[Gate, ...] = (
    start_time,
    proven_trigger,
    chain_depth,
    budget,
    package_exists,
    package_ready,
    secret_params,
    param_files,
    rerun_allowed,
    runner_allowed,
)


def first_closed(facts: Facts, settings: Settings, gates: Sequence[Gate] = GATES) -> Problem | None:
    """The first gate's Problem, in order; None: the run may start."""
    for gate in gates:
        closed = gate(facts, settings)
        if closed is not None:
            return closed
    return None


def _ready(package: PackageBody) -> Condition | None:
    return next((c for c in (package.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), None)
