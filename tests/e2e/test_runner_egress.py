"""Cluster-wide mode, as the chart runs it with its NetworkPolicies on: the operator makes each
namespace's runner egress policy before the namespace's first run (the chart cannot know the
namespaces), the same policy the chart renders for a watched namespace; one a tenant made under
that name first is that namespace's own business and stops no run."""

from __future__ import annotations

import json

import pytest

from .conftest import Ferris

pytestmark = pytest.mark.cluster


def test_a_namespaces_first_run_gets_its_runner_egress_policy(ferris: Ferris, ns: str) -> None:
    ferris.package(ns, "hello", "print('hi')\n")
    ferris.wait_condition(ns, "ferrispackage", "hello", "Ready")
    run = ferris.create_run(ns, "hello")
    assert ferris.wait_run(ns, run)["status"]["phase"] == "Succeeded"
    policy = ferris.get(ns, "networkpolicy", "ferris-runners")
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Egress"]
    assert spec["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "runner"
    to_server, to_dns = spec["egress"]
    assert to_server["to"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "ferris-system"}
    assert to_server["to"][0]["podSelector"]["matchLabels"] == {"app.kubernetes.io/component": "server"}
    assert {p["port"] for p in to_dns["ports"]} == {53}


def test_a_policy_a_tenant_made_first_under_that_name_is_left_alone_and_runs_start(ferris: Ferris, ns: str) -> None:
    own = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "ferris-runners", "namespace": ns},
        "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{}]},  # allows everything
    }
    ferris.kubectl("apply", "-f", "-", input=json.dumps(own))
    ferris.package(ns, "hello", "print('hi')\n")
    ferris.wait_condition(ns, "ferrispackage", "hello", "Ready")
    run = ferris.create_run(ns, "hello")
    assert ferris.wait_run(ns, run)["status"]["phase"] == "Succeeded"
    assert ferris.get(ns, "networkpolicy", "ferris-runners")["spec"]["egress"] == [{}]
