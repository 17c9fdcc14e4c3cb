"""Starting a run, idempotently: the package checked and pinned, the runner policy and the
concurrency policy applied, then the run's key Secret, sealed bundle and Job made once, each
stamped by the operator and reused only when it carries that stamp (ownership.Provenance): an
object planted under a child's name, whatever ownerReference it names, is ForeignObject, and
nothing is sealed."""

from __future__ import annotations

import contextlib
import datetime
import functools
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from ferris_ciphertext.bundle import new_run_key, seal_bundle
from ferris_ciphertext.format import CiphertextError
from ferris_operator import model, ownership, reasons
from ferris_operator.bodies import PackageBody, PackageSpec, RunBody, RunSpec
from ferris_operator.builders import package_content, run_objects
from ferris_operator.builders.run_objects import RunRef
from ferris_operator.builders.runner_egress import runner_egress_policy
from ferris_operator.crypto.run_tokens import RunTokens, token_digest
from ferris_operator.ownership import ForeignObject
from ferris_operator.packages import params_schema
from ferris_operator.packages.params_schema import ParamsError
from ferris_operator.packages.scripts import read_scripts
from ferris_operator.ports import KubePort, RunStorePort, ScopeReaderPort, VaultPort
from ferris_operator.problems import MasterKeyMismatch, PackageNotStored, Problem, Refused, VersionGone
from ferris_operator.process import metrics
from ferris_operator.queues import lanes
from ferris_operator.records import Attempt, NewRun, RunRecord, ScopedSecrets
from ferris_operator.retry_policy import policy_of
from ferris_operator.runs import gates
from ferris_operator.runs.gates import RunWaiting
from ferris_operator.runs.outcomes import Outcomes
from ferris_operator.settings import Settings
from ferris_operator.work.deferred import KeyedLocks
from ferris_operator.work.fresh_reads import FreshReads
from ferris_wire.runner_api import ParamFile

log = logging.getLogger("ferris.runs")


MAX_BUNDLE_BYTES = 1_000_000  # a ConfigMap holds 1 MiB, its metadata included
PROVEN_CONTENT_KEPT = 4096  # content objects whose parts were read and found right, by (namespace, name) -> uid


def _json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")))


def _check_bundle_size(bundle: dict[str, Any], secrets: dict[str, Any], scopes: dict[str, dict[str, Any]]) -> None:
    """A bundle that no ConfigMap can hold fails the run, naming what filled it, instead of a
    create the API server refuses at every retry."""
    size = sum(len(v) for v in (bundle.get("data") or {}).values())
    size += sum(len(v) for v in (bundle.get("binaryData") or {}).values())
    if size <= MAX_BUNDLE_BYTES:
        return
    parts = [f"the package's secrets {_json_size(secrets)}"] + [f"{k} {_json_size(v)}" for k, v in scopes.items()]
    raise Problem(
        reasons.BUNDLE_TOO_LARGE,
        f"the run's sealed bundle would be {size} bytes, over the {MAX_BUNDLE_BYTES} a ConfigMap holds"
        f" (bytes of JSON: {', '.join(parts)}; the sealed copy is about 4/3 of that): make the package's or a"
        " scope's secrets smaller, then create a new FerrisRun",
    )


def run_params(
    package_spec: PackageSpec, run_spec: RunSpec, secret: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The package's params overridden by the run's (and its ``secret`` ones), with the
    paramsSchema's defaults, checked; split into those that may be written down and the secret."""
    params = {**(package_spec.get("params") or {}), **(run_spec.get("params") or {}), **(secret or {})}
    schema = package_spec.get("paramsSchema")
    try:
        return params_schema.split(schema, params_schema.apply(schema, params))
    except ParamsError as exc:
        raise Problem(
            reasons.INVALID_PARAMS, f"spec.params: {exc}; fix the params and create a new FerrisRun"
        ) from None


def _pinned_version(started: RunRecord | None, attempt: Attempt | None, rerun_of: RunRecord | None) -> int | None:
    """The secrets version the run must read: the one it started with, its chain's, or the one of
    the run it reruns from a step; None: the current one."""
    for source in (started, attempt, rerun_of):
        if source is not None:
            return source.secrets_version
    return None


class StartFacts:
    """What the gates (``runs/gates.py``) read about one run, each read on first use and once:
    the package through the starter's shared fresh reads, the retry depth and the namespace's
    budgeted runs from PostgreSQL."""

    def __init__(self, starter: Starter, run: RunBody, existing: RunRecord | None, now: datetime.datetime) -> None:
        self._starter = starter
        self.run = run
        self.started = existing is not None
        self.now = now

    @functools.cached_property
    def package(self) -> PackageBody | None:
        meta = self.run["metadata"]
        return self._starter.packages.get((meta["namespace"], self.run["spec"]["packageRef"]["name"]))

    @functools.cached_property
    def trigger(self) -> str | None:
        return self._starter.proof.proven_trigger(self.run)

    @functools.cached_property
    def depth(self) -> int:
        """Its annotation, and for a retry at least what the operator gave it (an annotation
        edited down counts for nothing)."""
        depth = model.chain_depth(self.run["metadata"])
        if self.run["spec"].get("trigger") == model.TRIGGER_RETRY:
            depth = max(depth, self._starter.store.retry_depth(self.run["metadata"]["uid"]) or 0)
        return depth

    @functools.cached_property
    def param_files(self) -> dict[str, ParamFile]:
        """Asked of the database only for a package with file params."""
        package = self.package
        if package is None or not params_schema.file_names(package["spec"].get("paramsSchema")):
            return {}
        return self._starter.vault.param_files(package["metadata"]["uid"], self.run["metadata"]["uid"])

    @functools.cached_property
    def secret_params(self) -> dict[str, Any] | None:
        package = self.package
        if package is None:
            return None
        try:
            return self._starter.vault.run_params(package["metadata"]["uid"], self.run["metadata"]["uid"])
        except CiphertextError:
            raise Problem(
                reasons.SECRET_PARAMS_MISSING,
                "the secret params kept for this run do not open for it (changed in the database):"
                " start the run again through the Ferris server",
            ) from None

    @functools.cached_property
    def rerun_of(self) -> RunRecord | None:
        name = self.run["spec"].get("rerunOf")
        return self._starter.store.find(self.run["metadata"]["namespace"], name) if name else None

    @functools.cached_property
    def budgeted_runs(self) -> int:
        since = self.now - gates.BUDGET_WINDOW
        return self._starter.store.runs_made_since(self.run["metadata"]["namespace"], gates.BUDGETED_TRIGGERS, since)


class Starter:
    def __init__(
        self,
        kube: KubePort,
        vault: VaultPort,
        store: RunStorePort,
        settings: Settings,
        tokens: RunTokens,
        outcomes: Outcomes,
        cancel: Callable[..., None],
        api_ca: str | None = None,
        scopes: ScopeReaderPort | None = None,
        proof: ownership.Provenance | None = None,
    ) -> None:
        self.kube = kube
        self.proof = proof or ownership.Provenance(tokens)
        self.vault = vault
        self.store = store
        self.settings = settings
        self.tokens = tokens
        self.outcomes = outcomes
        self.cancel = cancel  # concurrencyPolicy Replace cancels the active runs
        self.api_ca = api_ca  # PEM the runners verify the runner API with (None: plain HTTP)
        self.scopes = scopes  # the project's and platform's secrets a run reads (None: none)
        self._policy_locks: KeyedLocks[tuple[str, str]] = KeyedLocks()  # Forbid/Replace, per package
        self._egress_made: set[str] = set()  # namespaces whose runner egress policy exists
        self._proven_content: dict[tuple[str, str], str] = {}  # content objects read and found right: their uid
        # A burst of runs of one package shares its GETs, each sent after the runs it serves
        # were seen: a run created right after a package update sees the update.
        self.packages: FreshReads[tuple[str, str], PackageBody | None] = FreshReads(lambda key: kube.get_package(*key))

    def start(self, body: RunBody) -> None:
        began = time.monotonic()
        meta, spec = body["metadata"], body["spec"]
        ref = RunRef(meta["namespace"], meta["name"], meta["uid"])
        generation = meta.get("generation")
        conditions = (body.get("status") or {}).get("conditions")
        package_name = spec["packageRef"]["name"]
        existing = self.store.get(ref.uid)
        if existing and existing.terminal:
            self.outcomes.publish(ref.uid, generation, conditions)
            return
        if spec.get("cancel"):
            self.cancel(body)
            return
        facts = StartFacts(self, body, existing, model.utcnow())
        try:
            closed = gates.first_closed(facts, self.settings)
            if closed is not None:
                raise closed
            package = facts.package
            assert package is not None  # the gates saw it
            # A run started before keeps the depth it was recorded with.
            depth = 0 if existing is not None else facts.depth
            with self._policy_held(ref, package, existing is None):
                # Only a run that names secret params reads them (the gate saw they were kept).
                named = (meta.get("annotations") or {}).get(model.ANNOTATION_SECRET_PARAMS)
                secret = (facts.secret_params or {}) if named else {}
                files = list(facts.param_files.values())
                if self._create_children(ref, package, spec, existing, depth, facts.rerun_of, secret, files):
                    metrics.RUN_START.observe(time.monotonic() - began)
        except Problem as problem:
            if problem.retry:
                raise  # the handler reports it and tries again
            self._fail(body, package_name, problem)
            return
        placed = self._placement(package["spec"], spec)
        waiting = (
            None if placed is None else (reasons.QUEUED, f"waiting for Kueue to admit its Job: {placed.describe()}")
        )
        self.outcomes.publish(ref.uid, generation, conditions, waiting)

    def _placement(self, package_spec: PackageSpec, spec: RunSpec) -> lanes.Placement | None:
        """With Kueue: the queue and lane the run's Job waits in."""
        return lanes.placement(package_spec, spec, self.settings.queues) if self.settings.queues.enabled else None

    def _fail(self, body: RunBody, package_name: str, problem: Problem) -> None:
        """End a run that cannot go on: recorded once, with a condition and an Event."""
        uid = body["metadata"]["uid"]
        if self.store.get(uid) is None:
            self.outcomes.fail_before_start(body, package_name, problem, model.FAILED)
        else:
            self.outcomes.finish(uid, model.FAILED, problem.reason, problem.message)

    @contextlib.contextmanager
    def _policy_held(self, ref: RunRef, package: PackageBody, new: bool) -> Iterator[None]:
        """For a new run of a package whose concurrencyPolicy is not Allow: the policy applied,
        and held until the run is recorded as started, so that two runs created at once cannot
        both find the other not started yet (one active operator acts; see peering)."""
        policy = package["spec"].get("concurrencyPolicy", "Allow")
        if not new or policy == "Allow":
            yield
            return
        with self._policy_locks.held((ref.namespace, package["metadata"]["name"])):
            self._apply_concurrency_policy(ref, package["metadata"]["name"], policy)
            yield

    def _apply_concurrency_policy(self, ref: RunRef, package_name: str, policy: str) -> None:
        """Weigh the run against the package's runs that started and have not ended, as
        PostgreSQL records them (no listing of FerrisRuns)."""
        active = [
            (uid, name) for uid, name in self.store.active_of_package(ref.namespace, package_name) if uid != ref.uid
        ]
        if not active:
            return
        if policy == "Forbid":
            names = ", ".join(sorted(name for _, name in active))
            raise Problem(
                reasons.CONCURRENCY_FORBIDDEN,
                f"concurrencyPolicy is Forbid and run(s) {names} of the package are still active",
            )
        for uid, name in active:  # Replace
            other: RunBody = {
                "metadata": {"namespace": ref.namespace, "name": name, "uid": uid},
                "spec": {"packageRef": {"name": package_name}},
            }
            self.cancel(
                other, reason=reasons.REPLACED, message=f"replaced by run {ref.name} (concurrencyPolicy Replace)"
            )

    def _create_children(
        self,
        ref: RunRef,
        package: PackageBody,
        spec: RunSpec,
        started: RunRecord | None,
        depth: int,
        rerun_of: RunRecord | None = None,
        secret: dict[str, Any] | None = None,
        param_files: list[ParamFile] | None = None,
    ) -> bool:
        """Create what is missing of the run's Secret, bundle and Job; True when the Job is new.
        An existing child is reused only when this run controls it (else ForeignObject). A run
        started before gets the secrets version it pinned, whatever was uploaded since; a rerun
        from a step, the version the run it reruns pinned."""
        pkg_meta, pkg_spec = package["metadata"], package["spec"]
        package_name = pkg_meta["name"]
        if started:
            job = self.kube.read("Job", ref.namespace, model.job_name(ref.name))
            if job is not None:
                self._own("Job", job, ref)
                return False  # everything was created before a restart
            if started.package_generation != int(pkg_meta.get("generation") or 0):
                # What is missing would be built from the package as it is now, not as it was.
                raise Problem(
                    reasons.PACKAGE_CHANGED,
                    f"the run's Job must be created again, and FerrisPackage {package_name} has changed since the run "
                    f"started (generation {started.package_generation}, now {pkg_meta.get('generation')}); "
                    "create a new FerrisRun",
                )
        scripts = self._scripts(ref, pkg_spec)  # before any write: a missing source waits
        run_params(pkg_spec, spec, secret)  # params that break the form fail the run before anything is made
        # A next attempt (spec.retries) is known by the request it was made for, never by its labels.
        attempt = None
        if not started and spec.get("trigger") == model.TRIGGER_RETRY:
            attempt = self.store.attempt_of(ref.uid)
            if attempt is None:
                self._wait_for_retry_record(ref)
        pinned = _pinned_version(started, attempt, rerun_of if spec.get("rerunOf") else None)
        try:
            stored = self.vault.read(pkg_meta["uid"], pinned, missing_ok=False)
            scoped = self.scopes.for_run(ref.namespace, stored.values) if self.scopes else ScopedSecrets()
        except PackageNotStored:
            # Its status says Ready, but not of this database (new, or restored): the package's
            # reconcile stores it (or reports why it cannot) and the run goes on from there.
            raise RunWaiting(
                reasons.PACKAGE_NOT_RECONCILED,
                f"waiting for FerrisPackage {package_name} to be stored in the operator's database",
            ) from None
        except VersionGone as gone:
            raise Problem(reasons.SECRETS_VERSION_GONE, f"{gone}; create a new FerrisRun") from None
        except MasterKeyMismatch as mismatch:
            raise Problem(reasons.MASTER_KEY_MISMATCH, f"{mismatch}; then create a new FerrisRun") from None
        run_key, token, key_secret_uid, fresh_key = self._run_key(ref, package_name, started)
        params, sealed_params = run_params(pkg_spec, spec, secret)
        steps = model.steps_of(pkg_spec)
        content = package_content.pack(package_name, self.proof.content_salt(pkg_meta["uid"]), scripts)
        record = self.store.record_start(
            NewRun(
                uid=ref.uid,
                namespace=ref.namespace,
                name=ref.name,
                package_name=package_name,
                package_uid=pkg_meta["uid"],
                generation=int(pkg_meta.get("generation") or 0),
                secrets_version=stored.version,
                token_sha256=token_digest(token),
                steps=steps,
                params=params_schema.shown(pkg_spec.get("paramsSchema"), params, set(sealed_params)),
                trigger=str(spec.get("trigger") or model.TRIGGER_MANUAL),
                depth=depth,
                secret_sources=scoped.record(),
                attempt=attempt,
                policy=None if attempt else policy_of(pkg_spec.get("retries")),
                key_secret_uid=key_secret_uid,
                contents=tuple(content.names),
            )
        )
        if (record.token_sha256, record.key_secret_uid) != (token_digest(token), key_secret_uid):
            self.store.set_run_key(ref.uid, token_digest(token), key_secret_uid)
        self._ensure_content(ref.namespace, package_name, pkg_meta["uid"], content)  # recorded above: kept
        current = self.kube.read("ConfigMap", ref.namespace, model.bundle_name(ref.name)) if started else None
        if current is not None:
            self._own("ConfigMap", current, ref)
            if not fresh_key:
                return self._create_job(ref, package, spec, content)  # the bundle sealed before still opens
        first_step = int(spec.get("fromStep") or 1) - 1 if spec.get("rerunOf") else 0
        document = run_objects.run_document(
            ref, package, params, stored.version, self.api_ca, first_step, content.keys, param_files
        )
        files = run_objects.sealed_files(document, scripts)
        bundle = self.proof.stamp_child(
            run_objects.bundle_configmap(
                ref,
                package_name,
                seal_bundle(run_key, ref.uid, stored.values, files, scoped.bundle(), sealed_params),
                document,
            ),
            "ConfigMap",
            ref.uid,
        )
        _check_bundle_size(bundle, stored.values, scoped.bundle())
        if current is not None:
            self.kube.replace_configmap(bundle, current["metadata"]["uid"])
        else:
            existing, created = self.kube.create_or_get(bundle)
            if not created:
                self._own("ConfigMap", existing, ref)
                if fresh_key:  # sealed to a key that is gone: seal again
                    self.kube.replace_configmap(bundle, existing["metadata"]["uid"])
        return self._create_job(ref, package, spec, content)

    def _wait_for_retry_record(self, ref: RunRef) -> None:
        """The operator creates a retry's FerrisRun, then records in its request which run it
        made; the watch can hand the run over in between. Such a run waits for the record
        rather than start as a first attempt (a run any other maker names like a retry does not)."""
        if self.store.retry_being_made(ref.namespace, ref.name):
            raise RunWaiting(
                reasons.WAITING_TO_START, "waiting for the operator to record this run as the retry it made", 1.0
            )

    def _ensure_runner_egress(self, namespace: str) -> None:
        """Cluster-wide mode with the chart's NetworkPolicies: the namespace's runner egress
        policy, made before its first run's Job (once per namespace and operator start). A
        refusal (no RBAC for it, an admission policy) is logged, never a run's failure."""
        egress = self.settings.runner_egress
        if egress is None or namespace in self._egress_made:
            return
        policy = runner_egress_policy(namespace, self.settings.namespace, egress.server_labels, egress.port)
        try:
            self.kube.create_if_absent(policy)
        except Exception as exc:
            refused = self.kube.refusal(exc)
            if refused is None:
                raise  # may pass by itself: the run's start is tried again
            log.warning("the runner egress NetworkPolicy of namespace %s was refused: %s", namespace, refused)
        self._egress_made.add(namespace)

    def _ensure_content(self, namespace: str, package: str, package_uid: str, content: package_content.Content) -> None:
        """The package's content objects this run mounts: made by the first run of that content,
        found by the next ones. One found under such a name is used only when it carries the
        operator's stamp for this package and holds exactly the parts its name stands for (read
        once per object: immutable, the same uid holds the same parts; the runner checks every
        file against the bundle all the same)."""
        now = model.utcnow()
        for obj in content.objects:
            ready = any(self._content_ready(namespace, package, package_uid, obj, now) for _ in range(2))
            if not ready:  # gone twice between reading and marking it (a sweep, a tenant): later
                raise RunWaiting(
                    reasons.WAITING_TO_START,
                    f"the package content ConfigMap {obj.name} went away while the run started; trying again",
                    1.0,
                )

    def _content_ready(
        self, namespace: str, package: str, package_uid: str, obj: package_content.ContentObject, now: datetime.datetime
    ) -> bool:
        """One content object there, proven and marked used; False when it went away meanwhile."""
        found = self.kube.metadata("ConfigMap", namespace, obj.name)
        full: dict[str, Any] | None = None  # read only when its parts must be checked
        if found is None:
            made = package_content.configmap(obj, namespace, package, package_uid, now)
            self.proof.stamp(made, "ConfigMap", package_content.STAMP_PURPOSE, package_uid)
            stored, created = self.kube.create_or_get(made)
            found, full = {"metadata": stored["metadata"]}, stored  # made meanwhile: as returned, no second GET
            if created:
                self._proven_content[(namespace, obj.name)] = str(stored["metadata"]["uid"])
                return True
        uid = str(found["metadata"].get("uid") or "")
        if not self.proof.made(found, "ConfigMap", package_content.STAMP_PURPOSE, package_uid):
            raise ForeignObject("ConfigMap", namespace, obj.name)
        if self._proven_content.get((namespace, obj.name)) != uid:
            full = full or self.kube.read("ConfigMap", namespace, obj.name)
            if full is None or str(full["metadata"].get("uid") or "") != uid:
                return False
            if not package_content.holds(full, obj):
                raise ForeignObject("ConfigMap", namespace, obj.name)
            if len(self._proven_content) >= PROVEN_CONTENT_KEPT:
                self._proven_content.clear()
            self._proven_content[(namespace, obj.name)] = uid
        if package_content.needs_touch(found["metadata"], now):
            return self.kube.annotate(
                "ConfigMap", namespace, obj.name, uid, {package_content.ANNOTATION_LAST_USED: model.timestamp(now)}
            )
        return True

    def _create_job(self, ref: RunRef, package: PackageBody, spec: RunSpec, content: package_content.Content) -> bool:
        self._ensure_runner_egress(ref.namespace)
        pkg_spec = package["spec"]
        timeout = int(spec.get("timeoutSeconds") or pkg_spec.get("timeoutSeconds") or 3600)
        api_url = self.settings.runner_api_url
        placed = self._placement(pkg_spec, spec)
        made = run_objects.job(ref, package, self.settings.runner_image, api_url, timeout, content.names, placed)
        try:
            job, job_created = self.kube.create_or_get(self.proof.stamp_child(made, "Job", ref.uid))
        except Refused as refused:
            raise Problem(
                reasons.JOB_REJECTED,
                f"the API server refused the run's Job: {refused}; fix spec.runner of the package",
            ) from None
        if not job_created:
            self._own("Job", job, ref)
        else:
            metrics.RUNS_STARTED.inc()
            metrics.RUNS_ACTIVE.inc()
            if placed is not None and placed.asked is not None:
                message = (
                    f"spec.priority {placed.asked} is more urgent than the platform allows runs to ask for"
                    f" (queue.maxOverridePriority {placed.priority}): the run waits in {placed.describe()}"
                )
                involved = {"metadata": {"namespace": ref.namespace, "name": ref.name, "uid": ref.uid}}
                self.kube.event(involved, "FerrisRun", reasons.PRIORITY_LIMITED, message, "Normal")
        return job_created

    def _own(self, kind: str, obj: dict[str, Any], ref: RunRef) -> None:
        self.proof.own(obj, kind, ref.uid, ref.namespace)

    def _run_key(self, ref: RunRef, package_name: str, started: RunRecord | None) -> tuple[bytes, str, str, bool]:
        """The run key and token: new ones, or, after a restart, those already handed out in the
        run's own Secret: the one whose uid the run's record holds, or one stamped for this run
        over this very key and token. A key Secret anyone else made (a key they know) is
        ForeignObject before anything is sealed to it. (key, token, the Secret's uid, fresh)"""
        run_key, token = new_run_key(), self.tokens.issue(ref.uid)
        secret = run_objects.key_secret(ref, package_name, run_key, token)
        self.proof.stamp_child(secret, "Secret", ref.uid, ownership.digest(secret["data"]))
        stored, created = self.kube.create_or_get(secret)
        secret_uid = str(stored["metadata"]["uid"])
        if created:
            return run_key, token, secret_uid, True
        recorded = started is not None and started.key_secret_uid == secret_uid
        if not recorded:
            self.proof.own(stored, "Secret", ref.uid, ref.namespace, ownership.digest(stored.get("data") or {}))
        run_key, token = run_objects.read_key_secret(stored)
        if not self.tokens.verify(ref.uid, token):
            raise Problem(
                reasons.RUN_KEY_INVALID,
                f"Secret {ref.namespace}/{stored['metadata']['name']} holds a token the operator did not issue for"
                " this run; the run cannot start safely: create a new FerrisRun",
            )
        return run_key, token, secret_uid, False

    def _scripts(self, ref: RunRef, pkg_spec: PackageSpec) -> list[tuple[str, bytes]]:
        """(name, content) of every script in order; a ConfigMap-sourced one is copied now, and
        checked again: the ConfigMap may have changed since the package was reconciled."""
        try:
            return read_scripts(
                pkg_spec["scripts"], lambda cm: self.kube.read("ConfigMap", ref.namespace, cm), at_run_start=True
            )
        except Problem as problem:
            if problem.retry:
                raise RunWaiting(problem.reason, problem.message) from None
            raise
