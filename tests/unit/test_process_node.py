"""The process node's pure parts: image table, env resolution, volumes, pod status."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from ferris_devcluster.node import status
from ferris_devcluster.node.envvars import EnvError, resolve_env
from ferris_devcluster.node.images import repository, resolve_argv
from ferris_devcluster.node.volumes import VolumeError, materialize, mounts_for

POD: dict[str, Any] = {
    "metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
    "spec": {"serviceAccountName": "sa", "containers": []},
}
OBJECTS: dict[tuple[str, str], dict[str, Any]] = {
    ("Secret", "s"): {"metadata": {"namespace": "ns"}, "data": {"k": base64.b64encode(b"secret!").decode()}},
    ("ConfigMap", "c"): {"metadata": {"namespace": "ns"}, "data": {"a": "1", "b": "2"}},
}


def fetch(kind: str, name: str) -> dict[str, Any] | None:
    return OBJECTS.get((kind, name))


@pytest.mark.parametrize(
    ("image", "repo"),
    [
        ("busybox", "busybox"),
        ("busybox:1.36", "busybox"),
        ("reg:5000/a/b:1@sha256:ff", "reg:5000/a/b"),
        ("ghcr.io/x/y@sha256:ab", "ghcr.io/x/y"),
    ],
)
def test_repository_strips_tag_and_digest(image: str, repo: str) -> None:
    assert repository(image) == repo


def test_argv_follows_docker_semantics() -> None:
    table = {"runner": ["/bin/runner"], "busybox": []}
    assert resolve_argv(table, "runner:1", None, ["--x"]) == ["/bin/runner", "--x"]
    assert resolve_argv(table, "busybox", ["sh", "-c"], ["echo"]) == ["sh", "-c", "echo"]
    assert resolve_argv(table, "unknown:1", ["true"], None) is None


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


def test_volumes_honour_items_and_modes(tmp_path: Path) -> None:
    pod = {
        **POD,
        "spec": {
            **POD["spec"],
            "volumes": [
                {"name": "sec", "secret": {"secretName": "s", "defaultMode": 0o400}},
                {"name": "cm", "configMap": {"name": "c", "items": [{"key": "b", "path": "sub/renamed"}]}},
                {
                    "name": "tok",
                    "projected": {
                        "sources": [
                            {"serviceAccountToken": {"path": "token"}},
                            {
                                "downwardAPI": {
                                    "items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]
                                }
                            },
                        ]
                    },
                },
                {"name": "scratch", "emptyDir": {}},
            ],
        },
    }
    paths = materialize(pod, tmp_path, fetch, lambda sa, aud, exp: f"token-for-{sa}")
    assert (paths["sec"] / "k").read_bytes() == b"secret!"
    assert (paths["sec"] / "k").stat().st_mode & 0o777 == 0o400
    assert (paths["cm"] / "sub" / "renamed").read_text() == "2" and not (paths["cm"] / "a").exists()
    assert (paths["tok"] / "token").read_text() == "token-for-sa"
    assert (paths["tok"] / "namespace").read_text() == "ns"
    container = {"volumeMounts": [{"name": "sec", "mountPath": "/s"}, {"name": "scratch", "mountPath": "/w"}]}
    mounts = mounts_for(pod, container, paths)
    assert [(m.target, m.read_only) for m in mounts] == [("/s", True), ("/w", False)]


def test_missing_secret_volume_waits(tmp_path: Path) -> None:
    pod = {**POD, "spec": {**POD["spec"], "volumes": [{"name": "x", "secret": {"secretName": "absent"}}]}}
    with pytest.raises(VolumeError, match='secret "absent" not found'):
        materialize(pod, tmp_path, fetch, lambda *a: "")


def test_terminated_status_reads_like_a_kubelet() -> None:
    ok = status.ContainerResult("main", "img", "t0", "t1", 0)
    bad = status.ContainerResult("side", "img", "t0", "t1", 3)
    assert status.terminated([ok], "t0")["phase"] == "Succeeded"
    failed = status.terminated([ok, bad], "t0")
    assert failed["phase"] == "Failed"
    assert failed["containerStatuses"][1]["state"]["terminated"]["reason"] == "Error"
    deadline = status.terminated([ok], "t0", "DeadlineExceeded", "too long")
    assert deadline["phase"] == "Failed" and deadline["reason"] == "DeadlineExceeded"
