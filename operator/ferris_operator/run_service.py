"""What happens to a run: start it (idempotently), follow its Job and pod, record its steps,
finish it exactly once, and clean finished runs up. Handlers and the runner API call this."""

from __future__ import annotations

import datetime
import logging
import threading
import time
from typing import Any

from ferris_operator import isolation, metrics, model, ownership
from ferris_operator.builders import run_objects, run_status
from ferris_operator.builders.run_objects import RunRef
from ferris_operator.crypto.run_tokens import RunTokens
from ferris_operator.k8s.objects import Kube, Refused
from ferris_operator.problems import Problem
from ferris_operator.records import RunRecord
from ferris_operator.runner_reports import StepReport
from ferris_operator.settings import Settings
from ferris_operator.store.runs import RunStore, token_digest
from ferris_operator.vault import Vault, VersionGone
from ferris_runner.bundle import new_run_key, seal_bundle

log = logging.getLogger("ferris.runs")

RESYNC_GRACE_SECONDS = 30.0
_NOW = {
    "propagationPolicy": "Background",
    "gracePeriodSeconds": 0,
}  # younger runs are still in the hands of their create handler
POD_WAITING_FAILURES = {
    "ErrImagePull": "ImagePullBackOff",
    "ImagePullBackOff": "ImagePullBackOff",
    "InvalidImageName": "ImagePullBackOff",
    "CreateContainerConfigError": "RunnerConfigError",
}


class RunWaiting(Problem):
    """The run cannot start yet for a reason that heals by itself; retry later."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(reason, message, retry=True)


def _finished(run: dict[str, Any]) -> bool:
    status = run.get("status") or {}
    return status.get("phase") in model.TERMINAL and bool(status.get("completionTime"))


def _ready_condition(obj: dict[str, Any]) -> dict[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return dict(cond)
    return None


class RunService:
    def __init__(
        self,
        kube: Kube,
        vault: Vault,
        runs: RunStore,
        settings: Settings,
        tokens: RunTokens,
        api_ca: str | None = None,
    ) -> None:
        self.kube = kube
        self.api_ca = api_ca  # PEM the runners verify the runner API with (None: plain HTTP)
        self.vault = vault
        self.runs = runs
        self.settings = settings
        self.tokens = tokens
        self._finished_since_sweep: set[tuple[str, str]] = set()  # (namespace, package)
        self._last_runs: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()

    # ---- start ---------------------------------------------------------------------------------
    def start(self, body: dict[str, Any]) -> None:
        began = time.monotonic()
        meta, spec = body["metadata"], body["spec"]
        ref = RunRef(meta["namespace"], meta["name"], meta["uid"])
        generation = meta.get("generation")
        conditions = (body.get("status") or {}).get("conditions")
        package_name = spec["packageRef"]["name"]
        existing = self.runs.get(ref.uid)
        if existing and existing.terminal:
            self._publish(existing, generation, conditions)
            return
        if spec.get("cancel"):
            self.cancel(body)
            return
        package = self.kube.get_package(ref.namespace, package_name)
        try:
            self._check_package(ref, package, package_name, existing is not None)
            assert package is not None
            if existing is None:
                self.settings.runner_policy.check(package["spec"].get("runner") or {}, self.settings.runner_image)
                self._apply_concurrency_policy(ref, package)
            if self._create_children(ref, package, spec, existing):
                metrics.RUN_START.observe(time.monotonic() - began)
        except Problem as problem:
            if problem.retry:
                raise  # the handler reports it and tries again
            self._fail(body, package_name, problem)
            return
        self.publish(ref.uid, generation, conditions)

    def _fail(self, body: dict[str, Any], package_name: str, problem: Problem) -> None:
        """End a run that cannot go on: recorded once, with a condition and an Event."""
        uid = body["metadata"]["uid"]
        if self.runs.get(uid) is None:
            self._fail_before_start(body, package_name, problem)
        else:
            self.finish(uid, model.FAILED, problem.reason, problem.message)

    def _check_package(self, ref: RunRef, package: dict[str, Any] | None, name: str, started: bool) -> None:
        if package is None:
            raise Problem(
                "PackageNotFound",
                f"FerrisPackage {ref.namespace}/{name} does not exist; create it, then create a new FerrisRun",
            )
        if started:
            return  # already pinned: later package changes do not matter
        ready = _ready_condition(package)
        observed = (package.get("status") or {}).get("observedGeneration")
        if ready is None or observed != package["metadata"].get("generation"):
            raise RunWaiting("PackageNotReconciled", f"waiting for FerrisPackage {name} to be reconciled")
        if ready.get("status") != "True":
            raise Problem(
                "PackageNotReady",
                f"FerrisPackage {name} is not Ready ({ready.get('reason')}): {ready.get('message', '')}",
            )

    def _apply_concurrency_policy(self, ref: RunRef, package: dict[str, Any]) -> None:
        policy = package["spec"].get("concurrencyPolicy", "Allow")
        if policy == "Allow":
            return
        active = [
            r
            for r in self.kube.list_runs(ref.namespace, package["metadata"]["name"])
            if r["metadata"]["uid"] != ref.uid
            and (r.get("status") or {}).get("phase") not in model.TERMINAL
            and (r.get("status") or {}).get("phase") is not None
        ]
        if not active:
            return
        if policy == "Forbid":
            names = ", ".join(sorted(r["metadata"]["name"] for r in active))
            raise Problem(
                "ConcurrencyForbidden",
                f"concurrencyPolicy is Forbid and run(s) {names} of the package are still active",
            )
        for other in active:  # Replace
            self.cancel(other, reason="Replaced", message=f"replaced by run {ref.name} (concurrencyPolicy Replace)")

    def _create_children(
        self, ref: RunRef, package: dict[str, Any], spec: dict[str, Any], started: RunRecord | None
    ) -> bool:
        """Create what is missing of the run's Secret, bundle and Job; True when the Job is new.
        An existing child is reused only when this run controls it (else ForeignObject). A run
        started before gets the secrets version it pinned, whatever was uploaded since."""
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
                    "PackageChanged",
                    f"the run's Job must be created again, and FerrisPackage {package_name} has changed since the run "
                    f"started (generation {started.package_generation}, now {pkg_meta.get('generation')}); "
                    "create a new FerrisRun",
                )
        scripts = self._scripts(ref, pkg_spec)  # before any write: a missing source waits
        try:
            stored = self.vault.read(pkg_meta["uid"], started.secrets_version if started else None)
        except VersionGone as gone:
            raise Problem("SecretsVersionGone", f"{gone}; create a new FerrisRun") from None
        run_key, token, fresh_key = self._run_key(ref, package_name)
        params = {**(pkg_spec.get("params") or {}), **(spec.get("params") or {})}
        steps = model.step_names(pkg_spec["scripts"], pkg_spec.get("entrypoint"))
        record = self.runs.record_start(
            ref.uid,
            ref.namespace,
            ref.name,
            package_name,
            pkg_meta["uid"],
            int(pkg_meta.get("generation") or 0),
            stored.version,
            token_digest(token),
            steps,
        )
        if record.token_sha256 != token_digest(token):
            self.runs.set_token(ref.uid, token_digest(token))
        current = self.kube.read("ConfigMap", ref.namespace, model.bundle_name(ref.name)) if started else None
        if current is not None:
            self._own("ConfigMap", current, ref)
            if not fresh_key:
                return self._create_job(ref, package, spec)  # the bundle sealed before still opens
        document = run_objects.run_document(ref, package, params, stored.version, self.api_ca)
        files = run_objects.bundle_files(document, scripts)
        bundle = run_objects.bundle_configmap(
            ref, package_name, seal_bundle(run_key, ref.uid, stored.values, files), files
        )
        if current is not None:
            self.kube.replace_configmap(bundle, current["metadata"]["uid"])
        else:
            existing, created = self.kube.create_or_get(bundle)
            if not created:
                self._own("ConfigMap", existing, ref)
                if fresh_key:  # sealed to a key that is gone: seal again
                    self.kube.replace_configmap(bundle, existing["metadata"]["uid"])
        return self._create_job(ref, package, spec)

    def _create_job(self, ref: RunRef, package: dict[str, Any], spec: dict[str, Any]) -> bool:
        pkg_spec = package["spec"]
        timeout = int(spec.get("timeoutSeconds") or pkg_spec.get("timeoutSeconds") or 3600)
        try:
            job, job_created = self.kube.create_or_get(
                run_objects.job(ref, package, self.settings.runner_image, self.settings.runner_api_url, timeout)
            )
        except Refused as refused:
            raise Problem(
                "JobRejected",
                f"the API server refused the run's Job: {refused}; fix spec.runner of the package",
            ) from None
        if not job_created:
            self._own("Job", job, ref)
        else:
            metrics.RUNS_STARTED.inc()
            metrics.RUNS_ACTIVE.inc()
        return job_created

    @staticmethod
    def _own(kind: str, obj: dict[str, Any], ref: RunRef) -> None:
        if not ownership.owned_by_run(obj, ref.uid, ref.namespace):
            raise ownership.ForeignObject(kind, ref.namespace, obj["metadata"]["name"])

    def _run_key(self, ref: RunRef, package_name: str) -> tuple[bytes, str, bool]:
        """The run key and token: new ones, or, after a restart, those already handed out in the
        run's own Secret. (key, token, fresh)"""
        run_key, token = new_run_key(), self.tokens.issue(ref.uid)
        stored, created = self.kube.create_or_get(run_objects.key_secret(ref, package_name, run_key, token))
        if created:
            return run_key, token, True
        self._own("Secret", stored, ref)
        run_key, token = run_objects.read_key_secret(stored)
        return run_key, token, False

    def _scripts(self, ref: RunRef, pkg_spec: dict[str, Any]) -> list[tuple[str, str]]:
        """(name, content) of every script in order; a ConfigMap-sourced one is copied now, and
        checked again: the ConfigMap may have grown since the package was reconciled."""
        contents: list[tuple[str, str]] = []
        configmaps: dict[str, dict[str, Any] | None] = {}  # one read per ConfigMap
        total = 0
        for script in pkg_spec["scripts"]:
            if "content" in script:
                value = str(script["content"])
            else:
                cm = script["configMapRef"]
                if cm["name"] not in configmaps:
                    configmaps[cm["name"]] = self.kube.read("ConfigMap", ref.namespace, cm["name"])
                found = ((configmaps[cm["name"]] or {}).get("data") or {}).get(cm["key"])
                if found is None:
                    raise RunWaiting(
                        "ScriptSourceMissing",
                        f"script {script['name']}: ConfigMap {cm['name']} has no key {cm['key']}",
                    )
                value = str(found)
            total += len(value.encode())
            if total > model.MAX_SCRIPTS_BYTES:
                raise Problem(
                    "InvalidScripts",
                    f"spec.scripts: the scripts total more than {model.MAX_SCRIPTS_BYTES} bytes at run start "
                    f"(script {script['name']} reaches {total}); shrink the ConfigMap-sourced scripts",
                )
            contents.append((script["name"], value))
        return contents

    def _fail_before_start(self, body: dict[str, Any], package_name: str, problem: Problem) -> None:
        meta = body["metadata"]
        self.runs.record_failure_before_start(
            meta["uid"], meta["namespace"], meta["name"], package_name, model.FAILED, problem.reason, problem.message
        )
        status = run_status.failed_before_start(
            model.FAILED,
            problem.reason,
            problem.message,
            meta.get("generation"),
            (body.get("status") or {}).get("conditions"),
        )
        self.kube.patch_status(model.RUNS, meta["namespace"], meta["name"], status)
        self.kube.event(body, "FerrisRun", problem.reason, problem.message)
        metrics.RUNS_FINISHED.labels(model.FAILED, problem.reason).inc()

    # ---- follow --------------------------------------------------------------------------------
    def publish(
        self, uid: str, generation: int | None = None, previous_conditions: list[dict[str, Any]] | None = None
    ) -> None:
        record = self.runs.get(uid)
        if record is not None:
            self._publish(record, generation, previous_conditions)

    def _publish(
        self, record: RunRecord, generation: int | None = None, previous_conditions: list[dict[str, Any]] | None = None
    ) -> None:
        steps = self.runs.steps(record.uid, tail=model.OUTPUT_TAIL_CHARS)
        status = run_status.run_status(record, steps, generation, previous_conditions)
        if generation is None:
            status.pop("observedGeneration", None)
        self.kube.patch_status(model.RUNS, record.namespace, record.name, status)

    def _record_of(self, child: dict[str, Any], run_uid: str | None, job_name: str) -> RunRecord | None:
        """The run that ``child`` claims to belong to, if the claim holds: the run exists, lives
        in the child's namespace and names its Job ``job_name``."""
        record = self.runs.get(run_uid) if run_uid else None
        if record is None or record.namespace != child["metadata"].get("namespace"):
            return None
        return record if model.job_name(record.name) == job_name else None

    def _owned_job(self, record: RunRecord) -> dict[str, Any] | None:
        job = self.kube.read("Job", record.namespace, model.job_name(record.name))
        return job if job and ownership.owned_by_run(job, record.uid, record.namespace) else None

    def on_pod(self, pod: dict[str, Any]) -> None:
        """A runner pod that cannot start ends its run. The run's Job must be the pod's
        controller and the run the Job's: a pod anyone labels as a run's is nothing to Ferris."""
        failure = None
        for container in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (container.get("state") or {}).get("waiting") or {}
            if waiting.get("reason", "") in POD_WAITING_FAILURES:
                failure = waiting
                break
        claimed = ownership.controlling_job(pod)
        if failure is None or claimed is None:
            return  # a Running pod needs nothing: the runner's first report marks the run Running
        record = self._record_of(pod, (pod["metadata"].get("labels") or {}).get(model.LABEL_RUN_UID), claimed[0])
        job = self._owned_job(record) if record else None
        if record is None or job is None or job["metadata"]["uid"] != claimed[1]:
            return
        reason = POD_WAITING_FAILURES[failure.get("reason", "")]
        message = f"runner container cannot start: {failure.get('reason')}: {failure.get('message', '')}"
        self.finish(record.uid, model.FAILED, reason, message.strip())
        self.kube.delete_exact("Job", record.namespace, job["metadata"]["name"], job["metadata"]["uid"], _NOW)

    def on_job(self, job: dict[str, Any]) -> None:
        record = self._record_of(job, ownership.controlling_run_uid(job), job["metadata"]["name"])
        if record is None:
            return
        uid = record.uid
        conditions = {
            c["type"]: c for c in (job.get("status") or {}).get("conditions") or [] if c.get("status") == "True"
        }
        if "Failed" in conditions:
            cond = conditions["Failed"]
            if cond.get("reason") == "DeadlineExceeded":
                timeout = job["spec"].get("activeDeadlineSeconds")
                self.finish(uid, model.FAILED, "Timeout", f"the run exceeded its timeout of {timeout}s and was stopped")
            else:
                steps = self.runs.steps(uid, tail=0)
                failed = next((s for s in steps if s.phase == model.STEP_FAILED), None)
                if failed:
                    self.finish(
                        uid, model.FAILED, "StepFailed", f"step {failed.name} exited with code {failed.exit_code}"
                    )
                else:
                    detail = self._termination_message(job) or cond.get("message", "")
                    self.finish(uid, model.FAILED, "RunnerFailed", f"the runner failed: {detail}".strip())
        elif "Complete" in conditions:
            steps = self.runs.steps(uid, tail=0)
            failed = next((s for s in steps if s.phase == model.STEP_FAILED), None)
            unfinished = [s for s in steps if s.phase not in (model.STEP_SUCCEEDED, model.STEP_SKIPPED)]
            if failed:
                self.finish(uid, model.FAILED, "StepFailed", f"step {failed.name} exited with code {failed.exit_code}")
            elif unfinished:
                # The runner exited 0 without reporting every step: its reports cannot be trusted.
                self.finish(
                    uid,
                    model.FAILED,
                    "RunnerFailed",
                    f"the runner exited without reporting step {unfinished[0].name}",
                )
            else:
                self.finish(uid, model.SUCCEEDED, "Succeeded", f"all {len(steps)} steps succeeded")

    def _termination_message(self, job: dict[str, Any]) -> str:
        meta = job["metadata"]
        for pod in self.kube.list_run_pods(meta["namespace"], meta["labels"].get(model.LABEL_RUN_UID, "")):
            if ownership.controlling_job(pod) != (meta["name"], meta["uid"]):
                continue  # not a pod of this Job, whatever its labels say
            for container in (pod.get("status") or {}).get("containerStatuses") or []:
                terminated = (container.get("state") or {}).get("terminated") or {}
                if terminated.get("message"):
                    return f"exit code {terminated.get('exitCode')}: {terminated['message'].strip()[:512]}"
        return ""

    def cancel(
        self, body: dict[str, Any], reason: str = "Cancelled", message: str = "cancelled by spec.cancel"
    ) -> None:
        meta = body["metadata"]
        self._delete_child("Job", meta["namespace"], model.job_name(meta["name"]), meta["uid"], _NOW)
        if self.runs.get(meta["uid"]) is None:
            package = body["spec"]["packageRef"]["name"]
            self.runs.record_failure_before_start(
                meta["uid"], meta["namespace"], meta["name"], package, model.CANCELLED, reason, message
            )
            self.kube.patch_status(
                model.RUNS,
                meta["namespace"],
                meta["name"],
                run_status.failed_before_start(model.CANCELLED, reason, message, meta.get("generation"), None),
            )
            return
        self.finish(meta["uid"], model.CANCELLED, reason, message)

    # ---- runner reports --------------------------------------------------------------------------
    def record_step(self, uid: str, idx: int, report: StepReport) -> bool:
        """Store a runner's step report; False when the run has no step ``idx``."""
        if not self.runs.record_step(
            uid, idx, report.phase, report.exit_code, report.started_at, report.finished_at, report.output
        ):
            return False
        self.runs.mark_running(uid)
        # A step's result is published with the next step's start or with the run's end, which
        # follow at once: one status write per step instead of two.
        if report.phase == model.STEP_RUNNING:
            self.publish(uid)
        return True

    def runner_finished(self, uid: str, succeeded: bool, message: str) -> None:
        if succeeded:
            self.finish(uid, model.SUCCEEDED, "Succeeded", message)
        else:
            self.finish(uid, model.FAILED, "StepFailed", message)

    # ---- finish --------------------------------------------------------------------------------
    def finish(self, uid: str, phase: str, reason: str, message: str) -> None:
        changed = self.runs.finish(uid, phase, reason, message)
        record = self.runs.get(uid)
        if record is None:
            return
        self._delete_child("Secret", record.namespace, model.key_secret_name(record.name), record.uid)
        self._publish(record)
        if not changed:
            return
        metrics.RUNS_FINISHED.labels(phase, reason).inc()
        metrics.RUNS_ACTIVE.dec()
        if record.started_at and record.finished_at:
            metrics.RUN_DURATION.observe((record.finished_at - record.started_at).total_seconds())
        involved = {"metadata": {"namespace": record.namespace, "name": record.name, "uid": record.uid}}
        if phase == model.SUCCEEDED:
            self.kube.event(involved, "FerrisRun", reason, message, "Normal")
        else:
            self.kube.event(involved, "FerrisRun", reason, message)
        with self._lock:
            key = (record.namespace, record.package_name)
            self._finished_since_sweep.add(key)
            self._last_runs[key] = {
                "name": record.name,
                "phase": phase,
                "completionTime": model.timestamp(record.finished_at),
            }

    def _delete_child(
        self, kind: str, namespace: str, name: str, run_uid: str, options: dict[str, Any] | None = None
    ) -> None:
        """Delete the run's child ``name`` if the run owns it; anything else of that name stays."""
        obj = self.kube.read(kind, namespace, name)
        if obj is not None and ownership.owned_by_run(obj, run_uid, namespace):
            self.kube.delete_exact(kind, namespace, name, obj["metadata"]["uid"], options)

    def publish_last_runs(self) -> None:
        """Write each package's status.lastRun, once per call however many of its runs finished
        since the last (a burst of a thousand runs is not a thousand writes to one object)."""
        with self._lock:
            pending, self._last_runs = self._last_runs, {}
        isolation.each(
            "last-run",
            pending.items(),
            lambda item: self.kube.patch_status(model.PACKAGES, item[0][0], item[0][1], {"lastRun": item[1]}),
            lambda item: f"FerrisPackage {item[0][0]}/{item[0][1]}",
        )

    def sweep_history(self, everything: bool) -> None:
        """Delete finished runs past their package's history limits or TTL; PostgreSQL keeps
        them. Periodic, never per finished run: a burst of runs costs one LIST per namespace,
        then one GET per package with finished runs. ``everything`` sweeps every package (for
        TTLs); otherwise only those with runs finished since the last sweep."""
        with self._lock:
            recent, self._finished_since_sweep = self._finished_since_sweep, set()
        if not everything and not recent:
            return
        namespaces = self.settings.watch_namespaces if everything else tuple(sorted({ns for ns, _ in recent}))
        by_package: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for run in self.kube.iter_runs(namespaces):
            key = (run["metadata"]["namespace"], run["spec"]["packageRef"]["name"])
            if _finished(run) and (everything or key in recent):
                by_package.setdefault(key, []).append(run)
        isolation.each(
            "history",
            by_package.items(),
            lambda item: self._prune(item[0][0], item[0][1], item[1]),
            lambda item: f"history of FerrisPackage {item[0][0]}/{item[0][1]}",
        )

    def _prune(self, namespace: str, package_name: str, finished: list[dict[str, Any]]) -> None:
        """Delete those of the package's ``finished`` runs beyond its limits or past its TTL."""
        package = self.kube.get_package(namespace, package_name)
        if package is None:
            return
        spec = package["spec"]
        ttl = spec.get("ttlSecondsAfterFinished")
        limits = {
            model.SUCCEEDED: spec.get("successfulRunsHistoryLimit", 10),
            model.FAILED: spec.get("failedRunsHistoryLimit", 10),
            model.CANCELLED: spec.get("failedRunsHistoryLimit", 10),
        }
        # Newest first. status.completionTime has whole seconds; PostgreSQL breaks the ties of
        # runs that finished within the same second.
        precise = self.runs.finish_times([r["metadata"]["uid"] for r in finished])

        def finished_at(run: dict[str, Any]) -> datetime.datetime:
            return precise.get(run["metadata"]["uid"]) or model.parse_timestamp(run["status"]["completionTime"])

        finished.sort(key=finished_at, reverse=True)
        kept: dict[str, int] = {}
        now = model.utcnow()
        for run in finished:
            phase = run["status"]["phase"]
            kept[phase] = kept.get(phase, 0) + 1
            age = (now - finished_at(run)).total_seconds()
            if kept[phase] > limits[phase] or (ttl is not None and age > ttl):
                self.kube.delete_run(namespace, run["metadata"]["name"])

    def resync_active(self) -> None:
        """Catch up with runs whose Job finished or vanished while nobody was watching.

        Two LIST calls per namespace with active runs, whatever their number: a run with a
        live Job needs nothing here (its Job and pod events do the work)."""
        by_namespace: dict[str, list[RunRecord]] = {}
        for record in self.runs.active():
            by_namespace.setdefault(record.namespace, []).append(record)
        for namespace, records in by_namespace.items():
            self._resync_namespace(namespace, records)

    def _resync_namespace(self, namespace: str, records: list[RunRecord]) -> None:
        runs = {r["metadata"]["uid"]: r for r in self.kube.list_runs_in(namespace)}
        jobs = {ownership.controlling_run_uid(j): j for j in self.kube.list_run_jobs(namespace)}
        stuck = [r for r in records if r.phase == model.PENDING and r.uid in jobs and self._past_grace(r)]
        if stuck:  # a pod that cannot mount its bundle waits forever: end its run now
            bundles = self.kube.bundle_owners(namespace)
            for record in stuck:
                if bundles.get(model.bundle_name(record.name)) != record.uid:
                    self._bundle_missing(record, jobs.pop(record.uid))
        isolation.each(
            "resync",
            records,
            lambda record: self._resync_one(record, runs.get(record.uid), jobs.get(record.uid)),
            lambda record: f"FerrisRun {record.namespace}/{record.name}",
        )

    @staticmethod
    def _past_grace(record: RunRecord) -> bool:
        return (model.utcnow() - record.created_at).total_seconds() > RESYNC_GRACE_SECONDS

    def _bundle_missing(self, record: RunRecord, job: dict[str, Any]) -> None:
        name = model.bundle_name(record.name)
        self.finish(
            record.uid,
            model.FAILED,
            "BundleMissing",
            f"the run's ConfigMap {name} was deleted before the runner could read it; create a new FerrisRun",
        )
        self.kube.delete_exact("Job", record.namespace, job["metadata"]["name"], job["metadata"]["uid"], _NOW)

    def _resync_one(self, record: RunRecord, body: dict[str, Any] | None, job: dict[str, Any] | None) -> None:
        if body is None:
            self.finish(record.uid, model.CANCELLED, "RunDeleted", "the FerrisRun was deleted before it finished")
        elif job is not None:
            self.on_job(job)
        elif self._past_grace(record):
            try:
                self.start(body)  # the Job was never created, or was deleted: recreate it
            except RunWaiting:
                return
