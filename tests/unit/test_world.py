"""The fake world behaves as the API server and the vault do in what the code relies on: a
create of an existing name conflicts, a delete holds to its uid, a status patch merges (None
removes), a pinned version that is gone says so."""

from __future__ import annotations

import pytest

from ferris_operator.problems import PackageNotStored, VersionGone
from tests.unit.world import Conflict, FakeKube, FakeVault, Refusal, World, a_package, a_run


def test_creating_a_name_twice_conflicts_and_create_or_get_returns_the_stored_one() -> None:
    kube = FakeKube()
    secret = {"kind": "Secret", "metadata": {"namespace": "team", "name": "r-key"}, "data": {}}
    stored, created = kube.create_or_get(secret)
    assert created and stored["metadata"]["uid"]
    again, created = kube.create_or_get({**secret, "data": {"other": "x"}})
    assert not created and again == stored
    assert not kube.create_if_absent(secret)
    made = kube.create_run("team", a_run("r").run)
    assert made["metadata"]["uid"] and kube.created[-1]["kind"] == "FerrisRun"
    with pytest.raises(Conflict):
        kube.create_run("team", a_run("r").run)
    kube.refusing[("Secret", "team", "bad")] = "forbidden"
    with pytest.raises(Refusal) as refused:
        kube.create_if_absent({"kind": "Secret", "metadata": {"namespace": "team", "name": "bad"}})
    assert kube.refusal(refused.value) == "forbidden" and kube.refusal(ValueError()) is None


def test_a_delete_holds_to_its_uid_and_a_status_patch_merges() -> None:
    world = World().seed(a_package("nightly").uid("p-1").ready())
    kube = world.kube
    kube.delete_exact("FerrisPackage", "team", "nightly", "someone-elses")
    assert kube.get_package("team", "nightly") is not None
    kube.patch_status("ferrispackages", "team", "nightly", {"lastRun": {"name": "r"}, "observedGeneration": None})
    assert kube.status_of("FerrisPackage", "team", "nightly") == {
        "conditions": a_package("nightly").ready().body["status"]["conditions"],
        "lastRun": {"name": "r"},
    }
    kube.delete_exact("FerrisPackage", "team", "nightly", "p-1")
    assert kube.get_package("team", "nightly") is None


def test_the_vault_keeps_versions_and_says_what_is_gone() -> None:
    vault = FakeVault()
    assert vault.read("p", missing_ok=True).values == {}
    with pytest.raises(PackageNotStored):
        vault.read("p", missing_ok=False)
    assert vault.ingest("team", "p", "p", {"A": "1"}) == 1 and vault.ingest("team", "p", "p", {"A": "2"}) == 2
    assert vault.read("p").values == {"A": "2"} and vault.read("p", 1).values == {"A": "1"}
    with pytest.raises(VersionGone):
        vault.read("p", 9)
    assert vault.write_one("p", "project", "B", "3", {}) == 3 and vault.read("p").values == {"A": "2", "B": "3"}


def test_builders_read_like_the_objects_they_make() -> None:
    run = a_run("r").of("nightly").cancelled().with_params(region="eu").run
    assert run["spec"] == {"packageRef": {"name": "nightly"}, "cancel": True, "params": {"region": "eu"}}
    package = a_package("nightly").secrets_from("src").generation(3, observed=2).package
    assert package["spec"]["secretsFrom"] == {"secretName": "src"} and package["status"]["observedGeneration"] == 2
