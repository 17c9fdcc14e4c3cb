"""The process node's environment resolution."""

from __future__ import annotations

import pytest

from ferris_devcluster.node.envvars import EnvError, resolve_env
from tests.unit.ferris_devcluster.node.fakes import POD, fetch


def test_env_from_values_refs_and_fields() -> None:
    container = {
        "env": [
            {"name": "A", "value": "x"},
            {"name": "B", "value": "$(A)-y"},
            {"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
            {"name": "C", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "a"}}},
            {"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
            {"name": "O", "valueFrom": {"secretKeyRef": {"name": "none", "key": "k", "optional": True}}},
        ]
    }
    assert resolve_env(POD, container, fetch) == {"A": "x", "B": "x-y", "S": "secret!", "C": "1", "N": "ns", "SA": "sa"}


def test_env_missing_key_is_a_config_error() -> None:
    with pytest.raises(EnvError, match="couldn't find key nope in ConfigMap ns/c"):
        resolve_env(
            POD, {"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "nope"}}}]}, fetch
        )
