"""A package folder (read by ``ferris_wire.package_folder``) made into Kubernetes objects: the
files go into ConfigMaps (`<package>-files`, then `<package>-files-2` and on, at most 900 KiB
each: one key per file, text in `data` and anything else in `binaryData`; a file larger than
that in parts, `<name>.part-<k>`, that the script names in order with `configMapRefs`), which
the FerrisPackage's scripts name; the manifest's events become FerrisTriggers; `secrets.json`
is handled by the caller (a typed Secret when applying, sealed text for a repository). Pure."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ferris_operator import model
from ferris_wire.package_folder import Folder, FolderError

CONFIGMAP_BYTES = 900 * 1024  # what one ConfigMap of files holds (the API server allows 1 MiB)


def files_configmap(folder: Folder, index: int = 0) -> str:
    return f"{folder.name}-files" if index == 0 else f"{folder.name}-files-{index + 1}"


@dataclass(frozen=True)
class Piece:
    file: str
    key: str  # the file's name, or ``<name>.part-<k>`` for a part of a larger one
    content: bytes
    configmap: int  # which of the folder's ConfigMaps holds it


def pieces(folder: Folder, whole_files_only: bool = False) -> list[Piece]:
    """Every file (cut in parts over ``CONFIGMAP_BYTES``), placed in ConfigMaps in name order,
    each filled before the next is begun. ``whole_files_only``: a file larger than a ConfigMap
    is a FolderError (a kustomization's generator reads whole files)."""
    placed: list[Piece] = []
    index, used = 0, 0
    for name, content in folder.files.items():
        parts = [content[i : i + CONFIGMAP_BYTES] for i in range(0, len(content), CONFIGMAP_BYTES)] or [b""]
        if len(parts) > 1 and whole_files_only:
            raise FolderError(
                f"{name} is {len(content)} bytes: a kustomization's ConfigMap generator holds whole files of at most"
                f" {CONFIGMAP_BYTES}; apply the folder with ferris package --apply, or keep the file smaller"
            )
        for k, part in enumerate(parts):
            if used and used + len(part) > CONFIGMAP_BYTES:
                index, used = index + 1, 0
            placed.append(Piece(name, name if len(parts) == 1 else f"{name}.part-{k}", part, index))
            used += len(part)
    return placed


def package_object(
    folder: Folder, secrets: Mapping[str, Any] | None = None, sql: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The FerrisPackage: every file from the ConfigMap, the manifest's order, description and
    schedule; ``secrets``: its spec.secretsFrom or spec.sealedSecrets, if any; ``sql``: its
    spec.sql, for .sql steps."""
    manifest = folder.manifest
    refs: dict[str, list[dict[str, str]]] = {}
    for piece in pieces(folder):
        refs.setdefault(piece.file, []).append({"name": files_configmap(folder, piece.configmap), "key": piece.key})
    spec: dict[str, Any] = {
        "scripts": [
            {"name": name, "configMapRef": found[0]} if len(found) == 1 else {"name": name, "configMapRefs": found}
            for name, found in refs.items()
        ]
    }
    if manifest.description:
        spec["description"] = manifest.description
    if manifest.entrypoint:
        spec["entrypoint"] = manifest.entrypoint
    elif manifest.execution_order:
        spec["executionOrder"] = list(manifest.execution_order)
    if manifest.schedule:
        spec["schedule"] = {"crons": [manifest.schedule], **({} if manifest.active else {"suspend": True})}
    spec.update(secrets or {})
    if sql:
        spec["sql"] = dict(sql)
    metadata: dict[str, Any] = {"name": folder.name}
    if manifest.tags:
        metadata["annotations"] = {"ferris.io/tags": ",".join(manifest.tags)}
    return {"apiVersion": f"{model.GROUP}/{model.VERSION}", "kind": "FerrisPackage", "metadata": metadata, "spec": spec}


def trigger_objects(folder: Folder) -> list[dict[str, Any]]:
    """One FerrisTrigger per event type of the manifest's trigger_events, starting the package."""
    found = []
    for i, event_type in enumerate(folder.manifest.trigger_events):
        spec: dict[str, Any] = {"filter": {"type": event_type}, "targets": [{"packageRef": {"name": folder.name}}]}
        if not folder.manifest.active:
            spec["suspend"] = True
        found.append(
            {
                "apiVersion": f"{model.GROUP}/{model.VERSION}",
                "kind": "FerrisTrigger",
                "metadata": {"name": f"{folder.name}-on-{i + 1}"},
                "spec": spec,
            }
        )
    return found


def configmap_objects(folder: Folder) -> list[dict[str, Any]]:
    """The ConfigMaps of the folder's files."""
    made: dict[int, dict[str, Any]] = {}
    for piece in pieces(folder):
        configmap = made.setdefault(
            piece.configmap,
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": files_configmap(folder, piece.configmap)}},
        )
        try:
            configmap.setdefault("data", {})[piece.key] = piece.content.decode("utf-8")
        except UnicodeDecodeError:
            configmap.setdefault("binaryData", {})[piece.key] = base64.b64encode(piece.content).decode()
    return [made[index] for index in sorted(made)]


def kustomization(folder: Folder) -> dict[str, Any]:
    """A kustomization beside the files: the ConfigMap made from them where they are (a stable
    name, so that the package's scripts can name it; a changed file is read at the next run's
    start), the FerrisPackage and triggers from ``ferrispackage.yaml``."""
    generators: dict[int, list[str]] = {}
    for piece in pieces(folder, whole_files_only=True):
        generators.setdefault(piece.configmap, []).append(piece.file)
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["ferrispackage.yaml"],
        "configMapGenerator": [
            {"name": files_configmap(folder, index), "files": files} for index, files in sorted(generators.items())
        ],
        "generatorOptions": {"disableNameSuffixHash": True},
    }


def repository_kustomization(folders: list[str]) -> dict[str, Any]:
    """The repository's: one package per top-level folder, as the executor's git sync had it."""
    return {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": sorted(folders)}
