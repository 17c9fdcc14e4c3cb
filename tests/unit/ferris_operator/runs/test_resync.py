"""The periodic resync reads what the watches showed (no LIST): a run the watches do not show
is read once before it is ended as deleted; a run's Job seen finished ends the run."""

from __future__ import annotations

from typing import Any

from ferris_operator import model
from ferris_operator.records import RunRecord
from tests.unit.ferris_operator.fakes import FakeKube, FakeStore, completed_job, owner, record, service


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


def test_a_run_the_watches_show_with_its_finished_job_ends_without_any_api_call() -> None:
    rec = record("u", "a", "nightly")
    store, kube = ActiveStore(rec), CountingKube()
    runs = service(kube, store)
    runs.sightings.run_seen(body(rec) | {"status": {"phase": model.RUNNING}})
    runs.sightings.job_seen(
        completed_job("a", "nightly-run", owner("FerrisRun", "u"), labels={model.LABEL_RUN_UID: "u"})
    )
    runs.resync_active()
    assert store.finished == [("u", model.SUCCEEDED, "Succeeded")]
    assert kube.reads == [("Secret", "a", model.key_secret_name("nightly"))]  # the key Secret, to delete it


def test_a_run_the_watches_do_not_show_is_read_before_it_is_ended_as_deleted() -> None:
    gone, unlisted = record("g", "a", "gone"), record("s", "a", "still-there")
    store = ActiveStore(gone, unlisted)
    kube = CountingKube({("FerrisRun", "a", "still-there"): body(unlisted)})
    service(kube, store).resync_active()
    assert store.finished == [("g", model.CANCELLED, "RunDeleted")]
    assert ("FerrisRun", "a", "gone") in kube.reads and ("FerrisRun", "a", "still-there") in kube.reads


def test_a_run_of_the_same_name_but_another_uid_does_not_keep_a_deleted_run_alive() -> None:
    rec = record("old", "a", "nightly")
    store = ActiveStore(rec)
    kube = CountingKube({("FerrisRun", "a", "nightly"): body(record("new", "a", "nightly"))})
    service(kube, store).resync_active()
    assert store.finished == [("old", model.CANCELLED, "RunDeleted")]


def test_a_job_elsewhere_claiming_the_run_does_not_hide_the_runs_own_job() -> None:
    rec = record("u", "a", "nightly")
    store, kube = ActiveStore(rec), CountingKube()
    runs = service(kube, store)
    runs.sightings.run_seen(body(rec) | {"status": {"phase": model.RUNNING}})
    labels = {model.LABEL_RUN_UID: "u"}
    runs.sightings.job_seen(completed_job("a", "nightly-run", owner("FerrisRun", "u"), labels=labels))
    running = completed_job("mallory", "nightly-run", owner("FerrisRun", "u"), labels=labels)
    running["status"] = {}
    runs.sightings.job_seen(running)  # seen after the run's own: a claim from another namespace
    runs.resync_active()
    assert store.finished == [("u", model.SUCCEEDED, "Succeeded")]
