"""The periodic resync reads what the watches showed (no LIST): a run the watches do not show
is read once before it is ended as deleted; a run's Job seen finished ends the run."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from ferris_operator import model
from ferris_operator.records import RunRecord
from tests.unit.ferris_operator.fakes import FakeKube, FakeStore, completed_job, obj, owner, record, service, stamped


class ActiveStore(FakeStore):
    def active(self) -> list[RunRecord]:
        return list(self.records.values())


class CountingKube(FakeKube):
    def __getattr__(self, name: str) -> Any:
        if name.startswith("list"):
            raise AssertionError(f"the resync listed ({name})")
        raise AttributeError(name)


def body(rec: RunRecord) -> dict[str, Any]:
    return {"metadata": {"name": rec.name, "namespace": rec.namespace, "uid": rec.uid}, "spec": {}}


def resync_after_its_job_completed(rec: RunRecord) -> tuple[ActiveStore, CountingKube]:
    """The resync of one running run whose Job the watches showed completed."""
    store, kube = ActiveStore(rec), CountingKube()
    runs = service(kube, store)
    runs.sightings.run_seen(body(rec) | {"status": {"phase": model.RUNNING}})
    runs.sightings.job_seen(
        stamped(
            completed_job("a", "nightly-run", owner("FerrisRun", "u"), labels={model.LABEL_RUN_UID: "u"}), "Job", "u"
        )
    )
    runs.resync.resync()
    assert store.finished == [("u", model.SUCCEEDED, "Succeeded")]
    return store, kube


def test_a_run_the_watches_show_with_its_finished_job_ends_without_any_api_call() -> None:
    _, kube = resync_after_its_job_completed(record("u", "a", "nightly"))
    assert kube.reads == [("Secret", "a", model.key_secret_name("nightly"))]  # recorded before its key's uid was


def test_a_run_that_kept_its_key_secrets_uid_ends_with_no_read_at_all() -> None:
    _, kube = resync_after_its_job_completed(dataclasses.replace(record("u", "a", "nightly"), key_secret_uid="key-uid"))
    assert kube.reads == []
    assert kube.deleted == [("Secret", "a", model.key_secret_name("nightly"), "key-uid")]


def test_a_run_the_watches_do_not_show_is_read_before_it_is_ended_as_deleted() -> None:
    gone, unlisted = record("g", "a", "gone"), record("s", "a", "still-there")
    store = ActiveStore(gone, unlisted)
    kube = CountingKube({("FerrisRun", "a", "still-there"): body(unlisted)})
    service(kube, store).resync.resync()
    assert store.finished == [("g", model.CANCELLED, "RunDeleted")]
    assert ("FerrisRun", "a", "gone") in kube.reads and ("FerrisRun", "a", "still-there") in kube.reads


def test_a_run_of_the_same_name_but_another_uid_does_not_keep_a_deleted_run_alive() -> None:
    rec = record("old", "a", "nightly")
    store = ActiveStore(rec)
    kube = CountingKube({("FerrisRun", "a", "nightly"): body(record("new", "a", "nightly"))})
    service(kube, store).resync.resync()
    assert store.finished == [("old", model.CANCELLED, "RunDeleted")]


def test_a_job_elsewhere_claiming_the_run_does_not_hide_the_runs_own_job() -> None:
    rec = record("u", "a", "nightly")
    store, kube = ActiveStore(rec), CountingKube()
    runs = service(kube, store)
    runs.sightings.run_seen(body(rec) | {"status": {"phase": model.RUNNING}})
    labels = {model.LABEL_RUN_UID: "u"}
    runs.sightings.job_seen(
        stamped(completed_job("a", "nightly-run", owner("FerrisRun", "u"), labels=labels), "Job", "u")
    )
    running = completed_job("mallory", "nightly-run", owner("FerrisRun", "u"), labels=labels)
    running["status"] = {}
    runs.sightings.job_seen(running)  # seen after the run's own: a claim from another namespace
    runs.resync.resync()
    assert store.finished == [("u", model.SUCCEEDED, "Succeeded")]


class BundleKube(CountingKube):
    """Bundles by run UID; every look at them recorded (namespace, UIDs asked for)."""

    def __init__(self, bundles: dict[str, str]) -> None:
        super().__init__()
        self.bundles = bundles  # run UID -> bundle name
        self.looks: list[tuple[str, list[str]]] = []

    def bundle_metadata(self, namespace: str, run_uids: list[str]) -> dict[str, dict[str, Any]]:
        self.looks.append((namespace, list(run_uids)))
        return {
            name: stamped(obj(namespace, owner("FerrisRun", uid), name=name), "ConfigMap", uid)
            for uid, name in self.bundles.items()
            if uid in run_uids
        }


def test_a_stuck_runs_bundle_is_looked_at_less_and_less_often_and_a_gone_one_ends_the_run() -> None:
    long_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    stuck = [
        dataclasses.replace(record(uid, "a", name), phase=model.PENDING, created_at=long_ago)
        for uid, name in (("k", "kept"), ("l", "lost"))
    ]
    young = dataclasses.replace(record("y", "a", "young"), phase=model.PENDING)  # within the grace period
    store = ActiveStore(*stuck, young)
    kube = BundleKube({"k": model.bundle_name("kept"), "l": model.bundle_name("lost"), "y": model.bundle_name("young")})
    runs = service(kube, store)
    now = [1000.0]
    runs.resync.clock = lambda: now[0]
    for rec in (*stuck, young):
        runs.sightings.run_seen(body(rec) | {"status": {"phase": model.PENDING}})
        job = stamped(
            completed_job("a", model.job_name(rec.name), owner("FerrisRun", rec.uid), labels={}), "Job", rec.uid
        )
        job["status"] = {}  # made, not ended
        runs.sightings.job_seen(job)
    looked_at = []
    for second in range(0, 400, 10):
        now[0] = 1000.0 + second
        if second == 100:
            del kube.bundles["l"]  # deleted after its first look, before its third
        runs.resync.resync()
        looked_at += [second for _, uids in kube.looks if "k" in uids]
        kube.looks.clear()
    assert looked_at == [0, 30, 90, 210]  # then every 300 s at most
    assert [(uid, reason) for uid, _, reason in store.finished] == [("l", "BundleMissing")]
