"""Pod volumes materialised as files under the pod's directory, and the container mounts
that bind them at their real mount paths."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ferris_devcluster.node.envvars import Fetch, field_value

# (service account, audience or None, expiration seconds) -> token
RequestToken = Callable[[str, str | None, int], str]

READ_ONLY_KINDS = ("secret", "configMap", "projected", "downwardAPI")


class VolumeError(Exception):
    """FailedMount: a referenced object or key does not exist yet."""


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool


def _write(path: Path, content: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    path.chmod(mode)


def _object_files(obj: dict[str, Any], kind: str) -> dict[str, bytes]:
    if kind == "Secret":
        return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
    files = {k: str(v).encode() for k, v in (obj.get("data") or {}).items()}
    files.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
    return files


def _project_object(
    target: Path, source: dict[str, Any], kind: str, name_key: str, fetch: Fetch, default_mode: int
) -> None:
    name = source[name_key]
    obj = fetch(kind, name)
    if obj is None:
        if source.get("optional"):
            return
        raise VolumeError(f'{kind.lower()} "{name}" not found')
    files = _object_files(obj, kind)
    items = source.get("items")
    if items:
        for item in items:
            if item["key"] not in files:
                if source.get("optional"):
                    continue
                raise VolumeError(f"{kind.lower()} {name!r} has no key {item['key']!r}")
            _write(target / item["path"], files[item["key"]], item.get("mode", default_mode))
    else:
        for key, content in files.items():
            _write(target / key, content, default_mode)


def materialize(pod: dict[str, Any], pod_dir: Path, fetch: Fetch, request_token: RequestToken) -> dict[str, Path]:
    """Write every volume of the pod under ``pod_dir/volumes``; returns name -> host path."""
    paths: dict[str, Path] = {}
    sa = pod["spec"].get("serviceAccountName") or "default"
    for volume in pod["spec"].get("volumes") or []:
        target = pod_dir / "volumes" / volume["name"]
        target.mkdir(parents=True, exist_ok=True)
        if "emptyDir" in volume:
            target.chmod(0o777)
        elif "secret" in volume:
            spec = volume["secret"]
            _project_object(target, spec, "Secret", "secretName", fetch, spec.get("defaultMode", 0o644))
        elif "configMap" in volume:
            spec = volume["configMap"]
            _project_object(target, spec, "ConfigMap", "name", fetch, spec.get("defaultMode", 0o644))
        elif "projected" in volume:
            mode = volume["projected"].get("defaultMode", 0o644)
            for source in volume["projected"].get("sources") or []:
                if "serviceAccountToken" in source:
                    token = source["serviceAccountToken"]
                    text = request_token(sa, token.get("audience"), token.get("expirationSeconds", 3600))
                    _write(target / token["path"], text.encode(), mode)
                elif "configMap" in source:
                    _project_object(target, source["configMap"], "ConfigMap", "name", fetch, mode)
                elif "secret" in source:
                    _project_object(target, source["secret"], "Secret", "name", fetch, mode)
                elif "downwardAPI" in source:
                    for item in source["downwardAPI"].get("items") or []:
                        value = field_value(pod, item["fieldRef"]["fieldPath"])
                        _write(target / item["path"], value.encode(), item.get("mode", mode))
        elif "downwardAPI" in volume:
            for item in volume["downwardAPI"].get("items") or []:
                value = field_value(pod, item["fieldRef"]["fieldPath"])
                _write(target / item["path"], value.encode(), volume["downwardAPI"].get("defaultMode", 0o644))
        else:
            raise VolumeError(f"volume {volume['name']!r}: unsupported source")
        paths[volume["name"]] = target
    return paths


def apply_fs_group(pod: dict[str, Any], volume_paths: dict[str, Path]) -> None:
    """The pod's fsGroup owns its volumes, as a kubelet sets it: every file and directory gets
    the group, read for the read-only kinds (a secret's 0400 becomes 0440), read and write for
    the others, and directories the set-group-id bit."""
    fs_group = (pod["spec"].get("securityContext") or {}).get("fsGroup")
    if fs_group is None:
        return
    kinds = {v["name"]: next((k for k in READ_ONLY_KINDS if k in v), "emptyDir") for v in pod["spec"]["volumes"]}
    for name, root in volume_paths.items():
        mask = 0o440 if kinds.get(name) in READ_ONLY_KINDS else 0o660
        for path in [root, *root.rglob("*")]:
            if path.is_symlink():
                continue
            os.chown(path, -1, int(fs_group))
            extra = mask | 0o2110 if path.is_dir() else mask
            path.chmod(path.stat().st_mode & 0o7777 | extra)


def mounts_for(pod: dict[str, Any], container: dict[str, Any], volume_paths: dict[str, Path]) -> list[Mount]:
    kinds = {
        v["name"]: next((k for k in READ_ONLY_KINDS if k in v), "emptyDir") for v in pod["spec"].get("volumes") or []
    }
    mounts = []
    for mount in container.get("volumeMounts") or []:
        name = mount["name"]
        if name not in volume_paths:
            raise VolumeError(f"volumeMount {name!r} names no volume of the pod")
        source = volume_paths[name]
        if mount.get("subPath"):
            source = source / mount["subPath"]
        read_only = bool(mount.get("readOnly")) or kinds.get(name) in READ_ONLY_KINDS
        mounts.append(Mount(os.fspath(source), mount["mountPath"], read_only))
    return mounts
