"""A package folder (read by ``ferris_wire.package_folder``) made into Kubernetes objects: the
files go into one ConfigMap (`<package>-files`, one key per file), which the FerrisPackage's
scripts name; the manifest's events become FerrisTriggers; `secrets.json` is handled by the
caller (a typed Secret when applying, sealed text for a repository). Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ferris_operator import model
from ferris_wire.package_folder import Folder


def files_configmap(folder: Folder) -> str:
    return f"{folder.name}-files"


def package_object(
    folder: Folder, secrets: Mapping[str, Any] | None = None, sql: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The FerrisPackage: every file from the ConfigMap, the manifest's order, description and
    schedule; ``secrets``: its spec.secretsFrom or spec.sealedSecrets, if any; ``sql``: its
    spec.sql, for .sql steps."""
    manifest = folder.manifest
    spec: dict[str, Any] = {
        "scripts": [
            {"name": name, "configMapRef": {"name": files_configmap(folder), "key": name}} for name in folder.files
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


def configmap_object(folder: Folder) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": files_configmap(folder)},
        "data": dict(folder.files),
    }


def kustomization(folder: Folder) -> dict[str, Any]:
    """A kustomization beside the files: the ConfigMap made from them where they are (a stable
    name, so that the package's scripts can name it; a changed file is read at the next run's
    start), the FerrisPackage and triggers from ``ferrispackage.yaml``."""
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["ferrispackage.yaml"],
        "configMapGenerator": [{"name": files_configmap(folder), "files": list(folder.files)}],
        "generatorOptions": {"disableNameSuffixHash": True},
    }


def repository_kustomization(folders: list[str]) -> dict[str, Any]:
    """The repository's: one package per top-level folder, as the executor's git sync had it."""
    return {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": sorted(folders)}
