"""Starting a run: scripts read again and bounded, waiting for the package's generation."""

from __future__ import annotations

import pytest

from ferris_operator.problems import Problem
from tests.unit.ferris_operator.fakes import FakeKube, FakeStore, service


def test_configmap_scripts_are_read_once_per_configmap_and_bounded_at_run_start() -> None:
    big = "x" * (300 * 1024)
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


def test_a_run_waits_while_its_package_is_not_reconciled_at_its_generation() -> None:
    from ferris_operator.runs import RunWaiting

    runs = service(FakeKube(), FakeStore())
    ref = type("Ref", (), {"namespace": "a", "name": "r", "uid": "u"})()
    package = {"metadata": {"name": "p", "generation": 2}, "status": {"observedGeneration": 1, "conditions": []}}
    with pytest.raises(RunWaiting) as caught:
        runs.starter._check_package(ref, package, "p", started=False)
    assert caught.value.reason == "PackageNotReconciled"
