"""Following a run: its Job's and pod's events (matched to the run only through a Job the
operator stamped for it and the pod's controller reference to that Job's uid, never through
labels or a bare ownerReference), the runner's reports, and cancellation."""

from __future__ import annotations

from typing import Any

from ferris_operator import model, ownership, reasons
from ferris_operator.bodies import RunBody
from ferris_operator.ports import KubePort, RunStorePort
from ferris_operator.problems import Problem
from ferris_operator.records import RunRecord
from ferris_operator.runs import verdict
from ferris_operator.runs.outcomes import DELETE_NOW, Outcomes
from ferris_operator.runs.reports import Reports

POD_WAITING_FAILURES = {
    "ErrImagePull": reasons.IMAGE_PULL_BACK_OFF,
    "ImagePullBackOff": reasons.IMAGE_PULL_BACK_OFF,
    "InvalidImageName": reasons.IMAGE_PULL_BACK_OFF,
    "CreateContainerConfigError": reasons.RUNNER_CONFIG_ERROR,
}


class Follower:
    def __init__(
        self, kube: KubePort, store: RunStorePort, outcomes: Outcomes, verdicts: Reports, proof: ownership.Provenance
    ) -> None:
        self.kube = kube
        self.proof = proof
        self.store = store
        self.outcomes = outcomes
        self.verdicts = verdicts

    def _record_of(self, child: dict[str, Any], run_uid: str | None, job_name: str) -> RunRecord | None:
        """The run that ``child`` claims to belong to, if the claim holds: the run exists, lives
        in the child's namespace and names its Job ``job_name``."""
        record = self.store.get(run_uid) if run_uid else None
        if record is None or record.namespace != child["metadata"].get("namespace"):
            return None
        return record if model.job_name(record.name) == job_name else None

    def _owned_job(self, record: RunRecord) -> dict[str, Any] | None:
        job = self.kube.read("Job", record.namespace, model.job_name(record.name))
        return job if job and self.proof.is_child(job, "Job", record.uid, record.namespace) else None

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
        self.outcomes.finish(record.uid, model.FAILED, reason, message.strip())
        self.kube.delete_exact("Job", record.namespace, job["metadata"]["name"], job["metadata"]["uid"], DELETE_NOW)

    def on_job(self, job: dict[str, Any]) -> None:
        """A Job that ended ends its run. The events of a Job still running cost nothing: the
        runner's reports, not its Job, say how far a run has got. Gather the facts, then let
        ``verdict.job_verdict`` decide."""
        conditions = verdict.ended(job)
        if not conditions:
            return
        record = self._record_of(job, ownership.controlling_run_uid(job), job["metadata"]["name"])
        if record is None or record.end_shown:
            return  # (the usual case: the runner's verdict ended the run before its Job completed)
        if not self.proof.is_child(job, "Job", record.uid, record.namespace):
            return  # a Job that names the run and that the operator did not make ends nothing
        if record.runner_succeeded is not None and not record.terminal:
            self.verdicts.finish_with_verdict(record)  # the runner said how it ended: its words
            return
        terminations = self._terminations(job) if verdict.needs_terminations(job) else []
        decided = verdict.job_verdict(job, terminations, self.store.steps(record.uid, tail=0))
        if decided is not None:
            self.outcomes.finish(record.uid, decided.phase, decided.reason, decided.message)

    def _terminations(self, job: dict[str, Any]) -> list[verdict.Termination]:
        """The ended containers of the Job's own pods (a pod's labels alone make it none of them)."""
        meta, found = job["metadata"], []
        for pod in self.kube.list_run_pods(meta["namespace"], meta["labels"].get(model.LABEL_RUN_UID, "")):
            if ownership.controlling_job(pod) != (meta["name"], meta["uid"]):
                continue  # not a pod of this Job, whatever its labels say
            for container in (pod.get("status") or {}).get("containerStatuses") or []:
                terminated = (container.get("state") or {}).get("terminated") or {}
                if terminated:
                    found.append(
                        verdict.Termination(
                            terminated.get("exitCode"), str(terminated.get("message") or ""), terminated.get("reason")
                        )
                    )
        return found

    def cancel(self, body: RunBody, reason: str = reasons.CANCELLED, message: str = "cancelled by spec.cancel") -> None:
        meta = body["metadata"]
        self.outcomes.delete_child("Job", meta["namespace"], model.job_name(meta["name"]), meta["uid"], DELETE_NOW)
        if self.store.get(meta["uid"]) is None:
            package = body["spec"]["packageRef"]["name"]
            self.outcomes.fail_before_start(body, package, Problem(reason, message), model.CANCELLED)
            return
        self.outcomes.finish(meta["uid"], model.CANCELLED, reason, message)
