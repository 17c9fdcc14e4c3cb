"""Starting a run: scripts read again and bounded, waiting for the package's generation, the
concurrency policy weighed against the runs PostgreSQL records as started."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from ferris_operator.builders.run_objects import RunRef
from ferris_operator.problems import Problem
from ferris_operator.settings import RunnerEgress
from tests.unit.ferris_operator.fakes import FakeKube, FakeStore, service


def test_configmap_scripts_are_read_once_per_configmap_and_bounded_at_run_start() -> None:
    big = "x" * (4 * 1024 * 1024 + 1)  # two of them pass the 8 MiB a package holds
    kube = FakeKube({("ConfigMap", "a", "lib"): {"metadata": {"name": "lib"}, "data": {"k": big, "small": "1"}}})
    runs = service(kube, FakeStore())
    ref = type("Ref", (), {"namespace": "a", "name": "r", "uid": "u"})()
    spec = {"scripts": [{"name": f"s{i}.py", "configMapRef": {"name": "lib", "key": "small"}} for i in range(64)]}
    assert len(runs.starter._scripts(ref, spec)) == 64
    assert kube.reads == [("ConfigMap", "a", "lib")]
    grown = {"scripts": [{"name": f"s{i}.py", "configMapRef": {"name": "lib", "key": "k"}} for i in range(2)]}
    with pytest.raises(Problem) as caught:
        runs.starter._scripts(ref, grown)
    assert caught.value.reason == "InvalidScripts" and "at run start" in caught.value.message


def test_a_run_with_a_start_time_to_come_waits_for_it_and_looks_again_within_a_minute() -> None:
    import datetime

    from ferris_operator import model
    from ferris_operator.runs import RunWaiting

    runs = service(FakeKube(), FakeStore())
    later = model.utcnow() + datetime.timedelta(minutes=10)
    body = {
        "metadata": {"namespace": "a", "name": "r", "uid": "u-wait", "generation": 1},
        "spec": {"packageRef": {"name": "p"}, "startAfter": model.timestamp(later)},
    }
    with pytest.raises(RunWaiting) as caught:
        runs.starter.start(body)
    assert caught.value.reason == "WaitingToStart" and caught.value.delay == 60
    assert caught.value.message == f"starts at {model.timestamp(later)} (spec.startAfter)"
    soon = model.utcnow() + datetime.timedelta(seconds=5)
    body["spec"]["startAfter"] = soon.isoformat()  # an offset, not Z: the CRD's date-time allows it
    with pytest.raises(RunWaiting) as caught:
        runs.starter.start(body)
    assert caught.value.delay is not None and 0 < caught.value.delay <= 5


def _package(policy: str) -> dict[str, Any]:
    return {"metadata": {"name": "p"}, "spec": {"concurrencyPolicy": policy}}


class PolicyStore(FakeStore):
    """Runs recorded as started, as PostgreSQL would list them for the concurrency policy."""

    def __init__(self) -> None:
        super().__init__()
        self.started: list[tuple[str, str]] = []

    def active_of_package(self, namespace: str, package_name: str) -> list[tuple[str, str]]:
        return list(self.started)


def _package(policy: str) -> dict[str, Any]:
    return {"metadata": {"name": "p"}, "spec": {"concurrencyPolicy": policy}}


def test_forbid_names_the_active_runs_and_replace_cancels_each_from_the_record() -> None:
    store = PolicyStore()
    store.started = [("u-old", "old"), ("u-new", "new")]
    runs = service(FakeKube(), store)
    cancelled: list[tuple[dict[str, Any], str]] = []
    runs.starter.cancel = lambda body, reason, message: cancelled.append((body, reason))
    with (
        pytest.raises(Problem) as caught,
        runs.starter._policy_held(RunRef("a", "new", "u-new"), _package("Forbid"), True),
    ):
        pass
    assert caught.value.reason == "ConcurrencyForbidden"
    assert "run(s) old of the package are still active" in caught.value.message  # itself left out
    with runs.starter._policy_held(RunRef("a", "new", "u-new"), _package("Replace"), True):
        pass
    assert cancelled == [
        (
            {"metadata": {"namespace": "a", "name": "old", "uid": "u-old"}, "spec": {"packageRef": {"name": "p"}}},
            "Replaced",
        )
    ]
    for held in (
        runs.starter._policy_held(RunRef("a", "x", "u-x"), _package("Allow"), True),
        runs.starter._policy_held(RunRef("a", "x", "u-x"), _package("Forbid"), False),  # started before
    ):
        with held:
            pass


def test_two_new_runs_of_a_forbid_package_cannot_both_pass_the_policy() -> None:
    store = PolicyStore()
    runs = service(FakeKube(), store)
    inside, release = threading.Event(), threading.Event()
    outcome: list[str] = []

    def first() -> None:
        with runs.starter._policy_held(RunRef("a", "r1", "u1"), _package("Forbid"), True):
            inside.set()
            release.wait(5)
            store.started.append(("u1", "r1"))  # what record_start does inside the hold

    def second() -> None:
        try:
            with runs.starter._policy_held(RunRef("a", "r2", "u2"), _package("Forbid"), True):
                outcome.append("passed")
        except Problem as problem:
            outcome.append(problem.reason)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert inside.wait(5)
    threads[1].start()

    def second_is_waiting_or_done() -> bool:  # what the test needs to see, not a long-enough sleep
        locks = runs.starter._policy_locks._locks
        return bool(outcome) or not threads[1].is_alive() or locks.get(("a", "p"), (None, 0))[1] == 2

    deadline = time.monotonic() + 5
    while not second_is_waiting_or_done():
        assert time.monotonic() < deadline, "the second run neither waited nor went on"
        time.sleep(0.001)
    assert outcome == []  # the second waits until the first is recorded
    release.set()
    for thread in threads:
        thread.join(5)
    assert outcome == ["ConcurrencyForbidden"]


class UnstoredVault:
    """A database that has never seen the package (new, or restored)."""

    def read(self, uid: str, version: int | None = None, missing_ok: bool = True) -> Any:
        from ferris_operator.problems import PackageNotStored
        from ferris_operator.records import StoredSecrets

        if missing_ok:
            return StoredSecrets(0, {})
        raise PackageNotStored(uid)


def test_a_run_whose_package_this_database_lacks_waits_instead_of_starting_without_its_secrets() -> None:
    from ferris_operator.runs import RunWaiting

    kube = FakeKube()
    runs = service(kube, FakeStore())
    runs.starter.vault = UnstoredVault()  # type: ignore[assignment]
    package = {
        "metadata": {"name": "p", "uid": "puid", "generation": 1},
        "spec": {"scripts": [{"name": "main.py", "content": "print(1)"}]},
    }
    with pytest.raises(RunWaiting) as caught:
        runs.starter._create_children(RunRef("a", "r", "u"), package, {"packageRef": {"name": "p"}}, None, 0)
    assert caught.value.reason == "PackageNotReconciled"
    assert "FerrisPackage p to be stored in the operator's database" in caught.value.message
    assert kube.reads == [] and kube.deleted == []  # nothing made before it waits


class RetryStore(FakeStore):
    """A retry request of ``r-attempt-2`` whose run the operator has created, not recorded yet."""

    def __init__(self) -> None:
        super().__init__()
        self.recorded = False

    def attempt_of(self, uid: str) -> Any:
        return None  # until recorded, no run inherits the attempt

    def retry_being_made(self, namespace: str, run_name: str) -> bool:
        return not self.recorded and (namespace, run_name) == ("a", "r-attempt-2")


def test_a_retry_handed_over_before_its_request_names_it_waits_instead_of_starting_as_a_first_attempt() -> None:
    from ferris_operator.runs import RunWaiting

    kube, store = FakeKube(), RetryStore()
    runs = service(kube, store)
    runs.starter.vault = UnstoredVault()  # reached only once the run no longer waits for its record
    package = {
        "metadata": {"name": "p", "uid": "puid", "generation": 1},
        "spec": {"scripts": [{"name": "main.py", "content": "print(1)"}]},
    }
    retry = {"packageRef": {"name": "p"}, "trigger": "Retry"}
    with pytest.raises(RunWaiting) as caught:
        runs.starter._create_children(RunRef("a", "r-attempt-2", "u2"), package, retry, None, 0)
    assert caught.value.reason == "WaitingToStart" and caught.value.delay == 1.0
    assert kube.reads == [] and kube.deleted == []
    store.recorded = True
    with pytest.raises(RunWaiting) as caught:  # past the record: on to the package's secrets
        runs.starter._create_children(RunRef("a", "r-attempt-2", "u2"), package, retry, None, 0)
    assert caught.value.reason == "PackageNotReconciled"


class PlantedKube(FakeKube):
    """Whatever is created under a name that holds a planted object answers with the planted one."""

    def __init__(self, planted: dict[str, Any]) -> None:
        super().__init__()
        self.planted = planted
        self.created: list[dict[str, Any]] = []

    def create_or_get(self, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        self.created.append(body)
        return self.planted, False


def planted_key_secret(key: bytes, token: str, **meta: Any) -> dict[str, Any]:
    from ferris_operator.builders.run_objects import key_secret

    secret = key_secret(RunRef("a", "r", "run-uid"), "p", key, token)
    secret["metadata"].update(uid="planted-uid", **meta)
    return secret


def test_a_key_secret_planted_with_a_forged_controller_reference_is_foreign_and_nothing_is_read_from_it() -> None:
    """Whoever may create Secrets can name the waiting run as controller of a ``<run>-key`` of
    their own, with a key they know: without the operator's stamp it is never the run's key."""
    from ferris_operator.ownership import ForeignObject

    planted = planted_key_secret(b"\x05" * 32, "planted-token")
    assert planted["metadata"]["ownerReferences"][0]["uid"] == "run-uid"  # the forged claim
    runs = service(PlantedKube(planted), FakeStore())
    with pytest.raises(ForeignObject) as caught:
        runs.starter._run_key(RunRef("a", "r", "run-uid"), "p", None)
    assert caught.value.reason == "ForeignObject" and "r-key" in caught.value.message


def test_a_key_secret_is_taken_back_only_with_its_stamp_over_its_very_key_or_its_recorded_uid() -> None:
    import dataclasses

    from ferris_operator.ownership import ForeignObject, digest
    from tests.unit.ferris_operator.fakes import PROOF, record

    tokens = service(FakeKube(), FakeStore()).tokens
    token = tokens.issue("run-uid")
    made = planted_key_secret(b"\x05" * 32, token)
    PROOF.stamp_child(made, "Secret", "run-uid", digest(made["data"]))
    key, again, uid, fresh = service(PlantedKube(made), FakeStore()).starter._run_key(
        RunRef("a", "r", "run-uid"), "p", None
    )
    assert (key, again, uid, fresh) == (b"\x05" * 32, token, "planted-uid", False)
    # The stamp copied onto a Secret holding another key (a key its maker knows): refused.
    swapped = planted_key_secret(b"\x06" * 32, token)
    swapped["metadata"]["annotations"] = made["metadata"]["annotations"]
    with pytest.raises(ForeignObject):
        service(PlantedKube(swapped), FakeStore()).starter._run_key(RunRef("a", "r", "run-uid"), "p", None)
    # The uid the run's record kept when the operator made its Secret is proof too...
    started = dataclasses.replace(record("run-uid", "a", "r"), key_secret_uid="planted-uid")
    unstamped = planted_key_secret(b"\x05" * 32, token)
    assert service(PlantedKube(unstamped), FakeStore()).starter._run_key(RunRef("a", "r", "run-uid"), "p", started)[0]
    # ...and a token the operator did not issue for this run is still refused.
    other = planted_key_secret(b"\x05" * 32, tokens.issue("another-run"))
    with pytest.raises(Problem) as caught:
        service(PlantedKube(other), FakeStore()).starter._run_key(RunRef("a", "r", "run-uid"), "p", started)
    assert caught.value.reason == "RunKeyInvalid" and "did not issue" in caught.value.message


@pytest.mark.parametrize("trigger", ["Schedule", "Event"])
def test_a_run_that_says_a_schedule_or_trigger_made_it_without_the_stamp_fails_and_records_no_trigger(
    trigger: str,
) -> None:
    from ferris_operator import model
    from tests.unit.ferris_operator.fakes import PROOF

    body = {
        "metadata": {"namespace": "a", "name": "nightly-202611301001", "uid": "u-claim", "generation": 1},
        "spec": {"packageRef": {"name": "nightly"}, "trigger": trigger, "scheduledTime": "2026-11-30T10:01:00Z"},
    }
    store = FakeStore()
    runs = service(FakeKube(), store)  # no package either: the trigger is refused before it is read
    runs.starter.start(body)
    assert store.failed_before_start == [("u-claim", "Failed", "TriggerNotProven")]
    record = store.get("u-claim")
    assert record is not None and f"spec.trigger is {trigger}" in str(record.message) and record.trigger is None
    # The same run as the operator makes it, stamped, is not refused for its trigger.
    made = PROOF.stamp_run({**body, "metadata": dict(body["metadata"])})
    assert PROOF.proven_trigger(made) == trigger
    assert PROOF.proven_trigger({"metadata": {}, "spec": {}}) == model.TRIGGER_MANUAL


class BudgetStore(FakeStore):
    def __init__(self, made: int, retry_depth: int | None = None) -> None:
        super().__init__()
        self.made, self.depth_of_retry = made, retry_depth
        self.asked: list[tuple[str, tuple[str, ...], Any]] = []

    def runs_made_since(self, namespace: str, triggers: tuple[str, ...], since: Any) -> int:
        self.asked.append((namespace, triggers, since))
        return self.made

    def retry_depth(self, uid: str) -> int | None:
        return self.depth_of_retry


def event_run(trigger: str = "Event") -> dict[str, Any]:
    from tests.unit.ferris_operator.fakes import PROOF

    body = {
        "metadata": {"namespace": "a", "name": "orders-0123456789ab", "uid": "u-ev", "annotations": {}},
        "spec": {"packageRef": {"name": "bill"}, "trigger": trigger},
    }
    return PROOF.stamp_run(body) if trigger == "Event" else body


def test_the_budget_counts_the_namespaces_event_and_retry_runs_of_the_last_minute_once() -> None:
    import datetime

    from ferris_operator.runs.start import StartFacts

    store = BudgetStore(made=299)
    now = datetime.datetime(2026, 12, 7, 10, 0, tzinfo=datetime.UTC)
    facts = StartFacts(service(FakeKube(), store).starter, event_run(), None, now)
    assert (facts.budgeted_runs, facts.budgeted_runs, facts.trigger) == (299, 299, "Event")
    assert store.asked == [("a", ("Event", "Retry"), now - datetime.timedelta(minutes=1))]


def test_a_retrys_depth_is_at_least_what_the_operator_gave_it() -> None:
    from ferris_operator import model
    from ferris_operator.runs.start import StartFacts

    def depth(body: dict[str, Any], recorded: int | None) -> int:
        starter = service(FakeKube(), BudgetStore(0, retry_depth=recorded)).starter
        return StartFacts(starter, body, None, model.utcnow()).depth  # type: ignore[arg-type]

    body = event_run("Retry")
    body["metadata"]["annotations"] = {model.ANNOTATION_CHAIN_DEPTH: "0"}  # edited down after it was made
    assert depth(body, 7) == 7
    assert depth(body, None) == 0
    body["metadata"]["annotations"] = {model.ANNOTATION_CHAIN_DEPTH: "9"}
    assert depth(body, 7) == 9


def test_a_bundle_no_configmap_can_hold_fails_the_run_naming_what_filled_it() -> None:
    from ferris_operator.runs.start import MAX_BUNDLE_BYTES, _check_bundle_size

    small = {"data": {"run.json": "{}"}, "binaryData": {"bundle": "x" * 1000}}
    _check_bundle_size(small, {"A": "a"}, {})
    big = {"data": {"script.0": "print(1)"}, "binaryData": {"bundle": "x" * MAX_BUNDLE_BYTES}}
    with pytest.raises(Problem) as caught:
        _check_bundle_size(big, {"A": "a"}, {"platform": {"P": "p" * 10}})
    assert caught.value.reason == "BundleTooLarge" and not caught.value.retry
    assert "the package's secrets 9, platform 18" in caught.value.message


class EgressKube(FakeKube):
    """Answers the runner egress policy's create: made, already there, refused for good, or not
    reachable; counts the asks."""

    def __init__(self, answer: str) -> None:
        super().__init__()
        self.answer = answer
        self.asked: list[str] = []

    def create_if_absent(self, obj: dict[str, Any]) -> bool:
        self.asked.append(obj["metadata"]["namespace"])
        if self.answer == "unreachable":
            raise ConnectionError("the API server is restarting")
        if self.answer == "forbidden":
            raise PermissionError("403")
        return self.answer == "made"

    def refusal(self, exc: BaseException) -> str | None:
        return "403: networkpolicies is forbidden" if isinstance(exc, PermissionError) else None


@pytest.mark.parametrize("answer", ["made", "exists", "forbidden"])
def test_a_namespaces_runner_egress_policy_is_asked_for_once(answer: str) -> None:
    from dataclasses import replace

    kube = EgressKube(answer)
    runs = service(kube, FakeStore())
    runs.starter.settings = replace(runs.starter.settings, runner_egress=RunnerEgress({"a": "b"}, 8443))
    for namespace in ("team-a", "team-a", "team-b"):
        runs.starter._ensure_runner_egress(namespace)  # a refusal for good stops no run
    assert kube.asked == ["team-a", "team-b"]


def test_a_runner_egress_policy_that_could_not_be_asked_for_is_asked_again_and_stops_the_start() -> None:
    from dataclasses import replace

    kube = EgressKube("unreachable")
    runs = service(kube, FakeStore())
    runs.starter.settings = replace(runs.starter.settings, runner_egress=RunnerEgress({"a": "b"}, 8443))
    for _ in range(2):
        with pytest.raises(ConnectionError):
            runs.starter._ensure_runner_egress("team-a")
    assert kube.asked == ["team-a", "team-a"]


def test_without_the_setting_no_policy_is_made() -> None:
    kube = EgressKube("made")
    service(kube, FakeStore()).starter._ensure_runner_egress("team-a")
    assert kube.asked == []
