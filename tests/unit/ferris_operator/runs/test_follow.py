"""Following a run: Job and pod events count only through the run's own children."""

from __future__ import annotations

import dataclasses
from typing import Any

from ferris_operator import model
from tests.unit.ferris_operator.fakes import (
    FakeKube,
    FakeStore,
    StepsStore,
    completed_job,
    failing_pod,
    obj,
    owner,
    record,
    service,
    stamped,
)


def test_a_job_labelled_as_a_run_but_not_owned_by_it_finishes_nothing() -> None:
    victim = record("victim-uid", "team-a", "nightly")
    store = FakeStore(victim)
    runs = service(FakeKube(), store)
    labels = {model.LABEL_RUN_UID: "victim-uid"}
    runs.follower.on_job(completed_job("mallory", "nightly-run", labels=labels))  # labels alone
    runs.follower.on_job(completed_job("mallory", "nightly-run", owner("FerrisRun", "victim-uid"), labels=labels))
    runs.follower.on_job(completed_job("team-a", "other-run", owner("FerrisRun", "victim-uid"), labels=labels))  # name
    # The right name, namespace and controller reference, written by whoever made the Job: no stamp.
    runs.follower.on_job(completed_job("team-a", "nightly-run", owner("FerrisRun", "victim-uid"), labels=labels))
    forged = completed_job("team-a", "nightly-run", owner("FerrisRun", "victim-uid"), labels=labels)
    forged["metadata"]["annotations"] = {model.ANNOTATION_STAMP: "fs1.k1." + "A" * 43}
    runs.follower.on_job(forged)
    other_runs = stamped(
        completed_job("team-a", "nightly-run", owner("FerrisRun", "victim-uid"), labels=labels), "Job", "u2"
    )
    runs.follower.on_job(other_runs)  # a stamp of the operator's, for another run
    assert store.finished == []
    runs.follower.on_job(
        stamped(
            completed_job("team-a", "nightly-run", owner("FerrisRun", "victim-uid"), labels=labels), "Job", "victim-uid"
        )
    )
    assert store.finished == [("victim-uid", model.SUCCEEDED, "Succeeded")]


def test_a_job_that_completes_after_its_runs_end_is_shown_costs_no_call() -> None:
    """The runner's verdict usually ends the run before its Job completes: the Job's event then
    writes nothing and reads nothing. A run whose end is not shown yet is still mended."""
    labels = {model.LABEL_RUN_UID: "u"}
    ended = dataclasses.replace(record("u", "a", "r"), phase=model.SUCCEEDED)
    for published, expected_reads in ((model.SUCCEEDED, []), (None, [("Secret", "a", "r-key")])):
        store = FakeStore(dataclasses.replace(ended, published_phase=published))
        kube = FakeKube()
        service(kube, store).follower.on_job(
            stamped(completed_job("a", "r-run", owner("FerrisRun", "u"), labels=labels), "Job", "u")
        )
        assert kube.reads == expected_reads
        assert len(store.finished) == len(expected_reads)


def test_a_pod_ends_a_run_only_through_the_runs_own_job() -> None:
    victim = record("victim-uid", "team-a", "nightly")
    job = stamped(obj("team-a", owner("FerrisRun", "victim-uid"), name="nightly-run"), "Job", "victim-uid")
    store = FakeStore(victim)
    kube = FakeKube({("Job", "team-a", "nightly-run"): job})
    runs = service(kube, store)
    runs.follower.on_pod(failing_pod("mallory", "nightly-run", job["metadata"]["uid"]))  # other namespace
    runs.follower.on_pod(
        failing_pod("team-a", "nightly-run", "some-other-job-uid")
    )  # a Job of the same name? not this one
    assert store.finished == [] and kube.deleted == []
    runs.follower.on_pod(failing_pod("team-a", "nightly-run", job["metadata"]["uid"]))
    assert store.finished == [("victim-uid", model.FAILED, "ImagePullBackOff")]
    assert ("Job", "nightly-run") in [(kind, name) for kind, _, name, _ in kube.deleted]


def test_a_job_that_completes_without_reporting_every_step_does_not_succeed() -> None:
    for phases, expected in (
        ([model.STEP_SUCCEEDED, model.STEP_PENDING], (model.FAILED, "RunnerFailed")),
        ([model.STEP_SUCCEEDED, model.STEP_SKIPPED], (model.SUCCEEDED, "Succeeded")),
    ):
        store = StepsStore(record("u", "a", "r"), phases)
        service(FakeKube(), store).follower.on_job(
            stamped(completed_job("a", "r-run", owner("FerrisRun", "u"), labels={model.LABEL_RUN_UID: "u"}), "Job", "u")
        )
        assert store.finished == [("u", *expected)]


def test_a_runner_that_cannot_get_its_config_fails_its_run_as_runner_config_error() -> None:
    victim = record("u", "a", "r")
    job = stamped(obj("a", owner("FerrisRun", "u"), name="r-run"), "Job", "u")
    store = FakeStore(victim)
    kube = FakeKube({("Job", "a", "r-run"): job})
    pod = failing_pod("a", "r-run", job["metadata"]["uid"])
    pod["metadata"]["labels"] = {model.LABEL_RUN_UID: "u"}
    pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] = "CreateContainerConfigError"
    service(kube, store).follower.on_pod(pod)
    assert store.finished == [("u", model.FAILED, "RunnerConfigError")]


def failed_job(reason: str, message: str = "") -> dict[str, Any]:
    job = stamped(completed_job("a", "r-run", owner("FerrisRun", "u"), labels={model.LABEL_RUN_UID: "u"}), "Job", "u")
    job["status"] = {"conditions": [{"type": "Failed", "status": "True", "reason": reason, "message": message}]}
    job["spec"] = {"activeDeadlineSeconds": 30}
    return job


def test_a_failed_job_ends_its_run_with_the_reason_a_person_can_act_on() -> None:
    cases = (
        ("DeadlineExceeded", [model.STEP_RUNNING], (model.FAILED, "Timeout")),
        ("BackoffLimitExceeded", [model.STEP_SUCCEEDED, model.STEP_FAILED], (model.FAILED, "StepFailed")),
        ("BackoffLimitExceeded", [model.STEP_PENDING], (model.FAILED, "RunnerFailed")),
    )
    for job_reason, phases, expected in cases:
        store = StepsStore(record("u", "a", "r"), phases)
        service(FakeKube(), store).follower.on_job(failed_job(job_reason))
        assert store.finished == [("u", *expected)], job_reason


def test_a_job_still_running_or_with_a_condition_not_true_finishes_nothing() -> None:
    store = StepsStore(record("u", "a", "r"), [model.STEP_RUNNING])
    runs = service(FakeKube(), store)
    job = failed_job("DeadlineExceeded")
    job["status"]["conditions"][0]["status"] = "False"
    runs.follower.on_job(job)
    job["status"] = {"active": 1}
    runs.follower.on_job(job)
    assert store.finished == []


def test_a_pod_that_is_merely_running_or_pulling_finishes_nothing() -> None:
    victim = record("u", "a", "r")
    job = stamped(obj("a", owner("FerrisRun", "u"), name="r-run"), "Job", "u")
    store = FakeStore(victim)
    runs = service(FakeKube({("Job", "a", "r-run"): job}), store)
    pod = failing_pod("a", "r-run", job["metadata"]["uid"])
    for waiting in ({"reason": "ContainerCreating"}, {}):
        pod["status"] = {"containerStatuses": [{"state": {"waiting": waiting}}]}
        runs.follower.on_pod(pod)
    pod["status"] = {"containerStatuses": [{"state": {"running": {}}}]}
    runs.follower.on_pod(pod)
    assert store.finished == []


class PodsKube(FakeKube):
    def __init__(self, pods: list[dict[str, Any]]) -> None:
        super().__init__()
        self.pods = pods

    def list_run_pods(self, namespace: str, run_uid: str) -> list[dict[str, Any]]:
        return self.pods


def ended_mid_step(
    job: dict[str, Any], terminated: dict[str, Any]
) -> tuple[dict[str, Any], Any, list[tuple[str, str, str, str]]]:
    """The run's Job failed while its second step ran, its container ended as ``terminated``:
    the pod, the runs service, and what it finished the run with."""
    pod = failing_pod("a", "r-run", job["metadata"]["uid"])
    pod["status"] = {"containerStatuses": [{"state": {"terminated": terminated}}]}
    store = StepsStore(record("u", "a", "r"), [model.STEP_SUCCEEDED, model.STEP_RUNNING])
    finished: list[tuple[str, str, str, str]] = []
    runs = service(PodsKube([pod]), store)
    runs.follower.outcomes.finish = lambda *args: finished.append(args)  # type: ignore[method-assign]
    runs.follower.on_job(job)
    return pod, runs, finished


def test_a_runner_killed_by_a_signal_mid_step_ends_its_run_as_lost_naming_the_step() -> None:
    job = failed_job("BackoffLimitExceeded")
    pod, runs, finished = ended_mid_step(job, {"exitCode": 137, "reason": "Error"})
    [(uid, phase, reason, message)] = finished
    assert (uid, phase, reason) == ("u", model.FAILED, "RunnerLost")
    assert message.startswith(
        "the runner was killed during step s1.py without reporting its end (exit code 137, SIGKILL)"
    )
    pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] = 3  # exited by itself: not lost
    finished.clear()
    runs.follower.on_job(job)
    assert finished[0][2] == "RunnerFailed"


def test_a_runner_killed_at_its_memory_limit_ends_its_run_out_of_memory_naming_limit_and_step() -> None:
    job = failed_job("BackoffLimitExceeded")
    job["spec"]["template"] = {
        "spec": {"containers": [{"name": "runner", "resources": {"limits": {"memory": "64Mi"}}}]}
    }
    _, _, finished = ended_mid_step(job, {"exitCode": 137, "reason": "OOMKilled"})
    [(uid, phase, reason, message)] = finished
    assert (uid, phase, reason) == ("u", model.FAILED, "OutOfMemory")
    assert message == (
        "the runner's container was killed at its memory limit of 64Mi during step s1.py (OOMKilled): "
        "raise spec.runner.resources.limits.memory, or make the step use less"
    )
