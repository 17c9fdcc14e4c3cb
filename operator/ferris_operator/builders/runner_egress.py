"""The NetworkPolicy that keeps runner pods of one namespace to the runner API and DNS, for
cluster-wide mode, where the chart cannot render one for every namespace: the operator makes it
in a namespace before that namespace's first run (runs/start.py). The same policy the chart
renders for each of its watchNamespaces. Pure.

Policies add up: a namespace that lets its runners reach more (an API its scripts call) adds a
NetworkPolicy of its own; this one never stands in its way. An object of this name made by
someone else first is left as it is: it is that namespace's own business."""

from __future__ import annotations

from typing import Any

from ferris_operator import model

NAME = "ferris-runners"


def runner_egress_policy(
    namespace: str, server_namespace: str, server_labels: dict[str, str], port: int
) -> dict[str, Any]:
    dns = [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": NAME,
            "namespace": namespace,
            "labels": dict(model.MANAGED_BY),
        },
        "spec": {
            # What the chart's "ferris.runnerPodLabels" selects: every runner pod of the namespace.
            "podSelector": {
                "matchLabels": {"app.kubernetes.io/managed-by": "ferris-operator", model.LABEL_COMPONENT: "runner"}
            },
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [
                        {
                            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": server_namespace}},
                            "podSelector": {"matchLabels": dict(server_labels)},
                        }
                    ],
                    "ports": [{"port": port}],
                },
                {
                    "to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                    "ports": dns,
                },
            ],
        },
    }
