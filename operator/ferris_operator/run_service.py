"""What happens to a run: start it (idempotently), follow its Job and pod, record its steps,
finish it exactly once, and clean finished runs up. Handlers and the runner API call this."""

from __future__ import annotations

import datetime
import logging
import secrets as random_tokens
import threading
import time
from dataclasses import dataclass
from typing import Any

from ferris_operator import metrics, model
from ferris_operator.builders import run_objects, run_status
from ferris_operator.builders.run_objects import RunRef
from ferris_operator.k8s.objects import Kube
from ferris_operator.settings import Settings
from ferris_operator.store.runs import RunRecord, RunStore, token_digest
from ferris_operator.vault import Vault
from ferris_runner.bundle import new_run_key, seal_bundle

log = logging.getLogger("ferris.runs")

RESYNC_GRACE_SECONDS = 30.0  # younger runs are still in the hands of their create handler
POD_WAITING_FAILURES = {
    "ErrImagePull": "ImagePullBackOff",
    "ImagePullBackOff": "ImagePullBackOff",
    "InvalidImageName": "ImagePullBackOff",
    "CreateContainerConfigError": "RunnerConfigError",
}


class RunWaiting(Exception):
    """The run cannot start yet for a reason that heals by itself; retry later."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class PackageProblem:
    reason: str
    message: str


def _finished(run: dict[str, Any]) -> bool:
    status = run.get("status") or {}
    return status.get("phase") in model.TERMINAL and bool(status.get("completionTime"))


def _ready_condition(obj: dict[str, Any]) -> dict[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return dict(cond)
    return None


class RunService:
    def __init__(self, kube: Kube, vault: Vault, runs: RunStore, settings: Settings) -> None:
        self.kube = kube
        self.vault = vault
        self.runs = runs
        self.settings = settings
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
        problem = self._package_problem(ref, package, package_name, existing is not None)
        if problem:
            self._fail_before_start(body, package_name, problem)
            return
        assert package is not None
        if existing is None:
            problem = self._apply_concurrency_policy(ref, package)
            if problem:
                self._fail_before_start(body, package_name, problem)
                return
        if self._create_children(ref, package, spec, existing is not None):
            metrics.RUN_START.observe(time.monotonic() - began)
        self.publish(ref.uid, generation, conditions)

    def _package_problem(
        self, ref: RunRef, package: dict[str, Any] | None, name: str, started: bool
    ) -> PackageProblem | None:
        if package is None:
            return PackageProblem(
                "PackageNotFound",
                f"FerrisPackage {ref.namespace}/{name} does not exist; create it, then create a new FerrisRun",
            )
        if started:
            return None  # already pinned: later package changes do not matter
        ready = _ready_condition(package)
        observed = (package.get("status") or {}).get("observedGeneration")
        if ready is None or observed != package["metadata"].get("generation"):
            raise RunWaiting("PackageNotReconciled", f"waiting for FerrisPackage {name} to be reconciled")
        if ready.get("status") != "True":
            return PackageProblem(
                "PackageNotReady",
                f"FerrisPackage {name} is not Ready ({ready.get('reason')}): {ready.get('message', '')}",
            )
        return None

    def _apply_concurrency_policy(self, ref: RunRef, package: dict[str, Any]) -> PackageProblem | None:
        policy = package["spec"].get("concurrencyPolicy", "Allow")
        if policy == "Allow":
            return None
        active = [
            r
            for r in self.kube.list_runs(ref.namespace, package["metadata"]["name"])
            if r["metadata"]["uid"] != ref.uid
            and (r.get("status") or {}).get("phase") not in model.TERMINAL
            and (r.get("status") or {}).get("phase") is not None
        ]
        if not active:
            return None
        if policy == "Forbid":
            names = ", ".join(sorted(r["metadata"]["name"] for r in active))
            return PackageProblem(
                "ConcurrencyForbidden",
                f"concurrencyPolicy is Forbid and run(s) {names} of the package are still active",
            )
        for other in active:  # Replace
            self.cancel(other, reason="Replaced", message=f"replaced by run {ref.name} (concurrencyPolicy Replace)")
        return None

    def _create_children(self, ref: RunRef, package: dict[str, Any], spec: dict[str, Any], started: bool) -> bool:
        """Create what is missing of the run's Secret, bundle and Job; True when the Job is new."""
        pkg_meta, pkg_spec = package["metadata"], package["spec"]
        package_name = pkg_meta["name"]
        job_name = model.job_name(ref.name)
        if started and self.kube.job_exists(ref.namespace, job_name):
            return False  # everything was created before a restart
        scripts = self._scripts(ref, pkg_spec)  # before any write: a missing source waits
        stored = self.vault.read(pkg_meta["uid"])
        key_secret_name = model.key_secret_name(ref.name)
        # A first start has no key yet; after a restart, reuse the one already handed out.
        current = self.kube.read_secret_data(ref.namespace, key_secret_name) if started else None
        if current is not None:
            run_key, token = current[0]["run.key"], current[0]["token"].decode()
            fresh_key = False
        else:
            run_key, token = new_run_key(), random_tokens.token_urlsafe(32)
            _, fresh_key = self.kube.create_or_get(run_objects.key_secret(ref, package_name, run_key, token))
            if not fresh_key:  # lost a race with ourselves after a restart: use what is stored
                current = self.kube.read_secret_data(ref.namespace, key_secret_name)
                assert current is not None
                run_key, token = current[0]["run.key"], current[0]["token"].decode()
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
        document = run_objects.run_document(ref, package, params, stored.version)
        bundle = run_objects.bundle_configmap(
            ref, package_name, seal_bundle(run_key, ref.uid, stored.values), document, scripts
        )
        _, created = self.kube.create_or_get(bundle)
        if not created and fresh_key:
            self.kube.replace_configmap(bundle)
        timeout = int(spec.get("timeoutSeconds") or pkg_spec.get("timeoutSeconds") or 3600)
        _, job_created = self.kube.create_or_get(
            run_objects.job(ref, package, self.settings.runner_image, self.settings.runner_api_url, timeout)
        )
        if job_created:
            metrics.RUNS_STARTED.inc()
            metrics.RUNS_ACTIVE.inc()
        return job_created

    def _scripts(self, ref: RunRef, pkg_spec: dict[str, Any]) -> list[tuple[str, str]]:
        """(name, content) of every script in order; a ConfigMap-sourced one is copied now."""
        contents: list[tuple[str, str]] = []
        for script in pkg_spec["scripts"]:
            if "content" in script:
                contents.append((script["name"], script["content"]))
                continue
            cm = script["configMapRef"]
            value = self.kube.read_configmap_key(ref.namespace, cm["name"], cm["key"])
            if value is None:
                raise RunWaiting(
                    "ScriptSourceMissing", f"script {script['name']}: ConfigMap {cm['name']} has no key {cm['key']}"
                )
            contents.append((script["name"], value))
        return contents

    def _fail_before_start(self, body: dict[str, Any], package_name: str, problem: PackageProblem) -> None:
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
        status = run_status.run_status(record, self.runs.steps(record.uid), generation, previous_conditions)
        if generation is None:
            status.pop("observedGeneration", None)
        self.kube.patch_status(model.RUNS, record.namespace, record.name, status)

    def on_pod(self, pod: dict[str, Any]) -> None:
        uid = (pod["metadata"].get("labels") or {}).get(model.LABEL_RUN_UID)
        if not uid:
            return
        pod_status = pod.get("status") or {}
        for container in pod_status.get("containerStatuses") or []:
            waiting = (container.get("state") or {}).get("waiting") or {}
            reason = POD_WAITING_FAILURES.get(waiting.get("reason", ""))
            if reason:
                message = f"runner container cannot start: {waiting.get('reason')}: {waiting.get('message', '')}"
                self.finish(uid, model.FAILED, reason, message.strip())
                record = self.runs.get(uid)
                if record:
                    self.kube.delete_job(record.namespace, model.job_name(record.name))
                return
        if pod_status.get("phase") == "Running":
            # Status follows with the first step's report, a moment later: one write less.
            self.runs.mark_running(uid)

    def on_job(self, job: dict[str, Any]) -> None:
        uid = (job["metadata"].get("labels") or {}).get(model.LABEL_RUN_UID)
        if not uid:
            return
        conditions = {
            c["type"]: c for c in (job.get("status") or {}).get("conditions") or [] if c.get("status") == "True"
        }
        if "Failed" in conditions:
            cond = conditions["Failed"]
            if cond.get("reason") == "DeadlineExceeded":
                timeout = job["spec"].get("activeDeadlineSeconds")
                self.finish(uid, model.FAILED, "Timeout", f"the run exceeded its timeout of {timeout}s and was stopped")
            else:
                steps = self.runs.steps(uid)
                failed = next((s for s in steps if s.phase == model.STEP_FAILED), None)
                if failed:
                    self.finish(
                        uid, model.FAILED, "StepFailed", f"step {failed.name} exited with code {failed.exit_code}"
                    )
                else:
                    detail = self._termination_message(job) or cond.get("message", "")
                    self.finish(uid, model.FAILED, "RunnerFailed", f"the runner failed: {detail}".strip())
        elif "Complete" in conditions:
            steps = self.runs.steps(uid)
            failed = next((s for s in steps if s.phase == model.STEP_FAILED), None)
            if failed:
                self.finish(uid, model.FAILED, "StepFailed", f"step {failed.name} exited with code {failed.exit_code}")
            else:
                self.finish(uid, model.SUCCEEDED, "Succeeded", f"all {len(steps)} steps succeeded")

    def _termination_message(self, job: dict[str, Any]) -> str:
        uid = job["metadata"]["labels"][model.LABEL_RUN_UID]
        for pod in self.kube.list_run_pods(job["metadata"]["namespace"], uid):
            for container in (pod.get("status") or {}).get("containerStatuses") or []:
                terminated = (container.get("state") or {}).get("terminated") or {}
                if terminated.get("message"):
                    return f"exit code {terminated.get('exitCode')}: {terminated['message'].strip()[:512]}"
        return ""

    def cancel(
        self, body: dict[str, Any], reason: str = "Cancelled", message: str = "cancelled by spec.cancel"
    ) -> None:
        meta = body["metadata"]
        self.kube.delete_job(meta["namespace"], model.job_name(meta["name"]))
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
    def record_step(self, uid: str, idx: int, report: dict[str, Any]) -> None:
        self.runs.record_step(
            uid,
            idx,
            str(report["name"]),
            str(report["phase"]),
            report.get("exitCode"),
            report.get("startedAt"),
            report.get("finishedAt"),
            report.get("output"),
        )
        self.runs.mark_running(uid)
        # A step's result is published with the next step's start or with the run's end, which
        # follow at once: one status write per step instead of two.
        if report["phase"] == model.STEP_RUNNING:
            self.publish(uid)

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
        self.kube.delete_secret(record.namespace, model.key_secret_name(record.name))
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

    def publish_last_runs(self) -> None:
        """Write each package's status.lastRun, once per call however many of its runs finished
        since the last (a burst of a thousand runs is not a thousand writes to one object)."""
        with self._lock:
            pending, self._last_runs = self._last_runs, {}
        for (namespace, package_name), last_run in pending.items():
            self.kube.patch_status(model.PACKAGES, namespace, package_name, {"lastRun": last_run})

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
        for (namespace, package_name), runs in by_package.items():
            self._prune(namespace, package_name, runs)

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
            runs = {r["metadata"]["uid"]: r for r in self.kube.list_runs_in(namespace)}
            jobs = {j["metadata"]["labels"].get(model.LABEL_RUN_UID): j for j in self.kube.list_run_jobs(namespace)}
            for record in records:
                body = runs.get(record.uid)
                if body is None:
                    self.finish(
                        record.uid, model.CANCELLED, "RunDeleted", "the FerrisRun was deleted before it finished"
                    )
                elif record.uid in jobs:
                    self.on_job(jobs[record.uid])
                elif (model.utcnow() - record.created_at).total_seconds() > RESYNC_GRACE_SECONDS:
                    try:
                        self.start(body)  # the Job was never created, or was deleted: recreate it
                    except RunWaiting:
                        continue
