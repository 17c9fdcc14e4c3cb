"""The process node's volumes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ferris_devcluster.node.volumes import VolumeError, apply_fs_group, materialize, mounts_for
from tests.unit.ferris_devcluster.node.fakes import POD, fetch


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


def test_fs_group_owns_the_volumes_as_a_kubelet_sets_it(tmp_path: Path) -> None:
    group = 65532 if os.geteuid() == 0 else os.getgid()  # a group we may give files to
    pod = {
        **POD,
        "spec": {
            **POD["spec"],
            "securityContext": {"fsGroup": group},
            "volumes": [
                {"name": "sec", "secret": {"secretName": "s", "defaultMode": 0o400}},
                {"name": "scratch", "emptyDir": {}},
            ],
        },
    }
    paths = materialize(pod, tmp_path, fetch, lambda sa, aud, exp: "t")
    (paths["scratch"] / "made-before").write_text("x")
    (paths["scratch"] / "made-before").chmod(0o600)
    apply_fs_group(pod, paths)
    secret = (paths["sec"] / "k").stat()
    assert (secret.st_gid, secret.st_mode & 0o7777) == (group, 0o440)  # readable by the group, no more
    scratch = paths["scratch"].stat()
    assert scratch.st_gid == group and scratch.st_mode & 0o2000  # new files inherit the group
    assert (paths["scratch"] / "made-before").stat().st_mode & 0o777 == 0o660


def test_no_fs_group_changes_nothing(tmp_path: Path) -> None:
    pod = {**POD, "spec": {**POD["spec"], "volumes": [{"name": "sec", "secret": {"secretName": "s"}}]}}
    paths = materialize(pod, tmp_path, fetch, lambda sa, aud, exp: "t")
    apply_fs_group(pod, paths)
    assert (paths["sec"] / "k").stat().st_mode & 0o777 == 0o644
