"""A package folder as the Ferris executor's users keep it, read: the files at its top level,
the executor's `manifest.json` and an optional `secrets.json`. Both sides read folders: the
operator's CLI (`ferris package`) and the runner's local mode (`ferris dev run`); pure but for
``read_folder``. Imports nothing outside the standard library.

The manifest is the executor's: `description`; `entrypoint` (one step; it wins over
`execution_order`, as there); `execution_order` (these steps, in order); `schedule` (a cron
expression); `trigger_events` (event types that start the package); `active: false` (schedule
and triggers suspended); `tags`; `allow_manual_triggering` (reported, not mapped)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MANIFEST, SECRETS = "manifest.json", "secrets.json"
LOCAL_STATE = "ef_package_state.json"  # the executor's local mode keeps the package's state here
LOCAL_FILES = ("ef_env.json", LOCAL_STATE)  # the local mode's files: never part of the package
FILE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")  # a script name, and a ConfigMap key
PACKAGE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
MAX_FILES = 64  # spec.scripts' maxItems
SCRIPT_SUFFIXES_RUN = (".py", ".sh")  # what runs as a step unless the steps are named
STEP_SUFFIXES = (*SCRIPT_SUFFIXES_RUN, ".sql")  # what may be named as a step (.sql: against spec.sql's database)
MAX_PACKAGE_BYTES = 8 * 1024 * 1024  # a package's files together, binary ones included
KNOWN = {"description", "entrypoint", "execution_order", "schedule", "trigger_events", "active", "tags"}
KNOWN |= {"allow_manual_triggering", "name"}


class FolderError(ValueError):
    """A folder Ferris cannot make a package of; the message names the file or field and the fix."""


@dataclass(frozen=True)
class Manifest:
    description: str | None = None
    entrypoint: str | None = None
    execution_order: tuple[str, ...] = ()
    schedule: str | None = None
    trigger_events: tuple[str, ...] = ()
    active: bool = True
    tags: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # what was read and not mapped, said to the user


@dataclass(frozen=True)
class Folder:
    name: str
    files: dict[str, bytes]  # file name -> content, in name order
    manifest: Manifest = field(default_factory=Manifest)
    secrets: bytes | None = None  # secrets.json, untouched


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FolderError(f"{MANIFEST}: {where} must be a list of strings")
    return tuple(value)


def parse_manifest(raw: bytes, files: Mapping[str, bytes]) -> Manifest:
    """The executor's manifest.json, checked against the folder's files."""
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise FolderError(f"{MANIFEST} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise FolderError(f"{MANIFEST} must be a JSON object")
    notes = [f"{MANIFEST}: {key} is not one Ferris reads; left out" for key in sorted(set(data) - KNOWN)]
    entrypoint = data.get("entrypoint")
    if entrypoint is not None and (not isinstance(entrypoint, str) or entrypoint not in files):
        raise FolderError(f"{MANIFEST}: entrypoint {entrypoint!r} must name a file of the folder")
    order = _strings(data.get("execution_order", []), "execution_order")
    for name in order:
        if name not in files:
            raise FolderError(f"{MANIFEST}: execution_order names {name!r}, which is not a file of the folder")
        if not name.endswith(STEP_SUFFIXES):
            raise FolderError(f"{MANIFEST}: execution_order names {name!r}: only .py, .sh and .sql files run as steps")
    if entrypoint and order:
        notes.append(
            f"{MANIFEST}: entrypoint and execution_order both set: entrypoint {entrypoint} runs alone,"
            " as the executor did"
        )
        order = ()
    schedule = data.get("schedule")
    if schedule is not None and not isinstance(schedule, str):
        raise FolderError(f"{MANIFEST}: schedule must be a cron expression such as '0 3 * * *'")
    active = data.get("active", True)
    if not isinstance(active, bool):
        raise FolderError(f"{MANIFEST}: active must be true or false")
    if data.get("allow_manual_triggering") is False:
        notes.append(
            f"{MANIFEST}: allow_manual_triggering false is not mapped: who may start runs is Kubernetes RBAC"
            " (create ferrisruns); give people the view role instead of edit"
        )
    description = data.get("description")
    return Manifest(
        description=str(description)[:1024] if description is not None else None,
        entrypoint=entrypoint,
        execution_order=order,
        schedule=schedule or None,
        trigger_events=_strings(data.get("trigger_events", []), "trigger_events"),
        active=active,
        tags=_strings(data.get("tags", []), "tags"),
        notes=tuple(notes),
    )


def read_folder(path: Path, name: str | None = None) -> Folder:
    """The folder at ``path`` (its top level: subfolders are refused, as script names have no
    path); ``name``, else the folder's name, is the package's."""
    if not path.is_dir():
        raise FolderError(f"{path} is not a folder")
    package = name or path.resolve().name.lower().replace("_", "-")
    if not PACKAGE_NAME.match(package) or len(package) > 56:
        raise FolderError(
            f"package name {package!r} is not a Kubernetes name (lower case, digits, '-', at most 56):"
            " rename the folder or give --name"
        )
    files: dict[str, bytes] = {}
    manifest_raw: bytes | None = None
    secrets: bytes | None = None
    for entry in sorted(path.iterdir()):
        if entry.name.startswith(".") or entry.name in ("kustomization.yaml", "ferrispackage.yaml", *LOCAL_FILES):
            continue  # hidden files, what `--kustomize` wrote here, and the local mode's own
        if entry.is_dir():
            if entry.name == "__pycache__":
                continue
            raise FolderError(f"{entry.name}/ is a folder: a package's files sit at its top level; move them up")
        raw = entry.read_bytes()
        if entry.name == MANIFEST:
            manifest_raw = raw
        elif entry.name == SECRETS:
            secrets = raw
        elif not FILE_NAME.match(entry.name):
            raise FolderError(f"{entry.name}: a file name may hold letters, digits, '_', '.' and '-' only; rename it")
        else:
            files[entry.name] = raw
    if not files:
        raise FolderError(f"{path} holds no script: add a .py or .sh file")
    if len(files) > MAX_FILES:
        raise FolderError(f"{path} holds {len(files)} files; a package holds at most {MAX_FILES}")
    total = sum(len(content) for content in files.values())
    if total > MAX_PACKAGE_BYTES:
        raise FolderError(
            f"{path}: the files are {total} bytes together, over a package's {MAX_PACKAGE_BYTES} (8 MiB); keep large"
            " data elsewhere and fetch it from the script"
        )
    manifest = parse_manifest(manifest_raw, files) if manifest_raw is not None else Manifest()
    if (
        not manifest.entrypoint
        and not manifest.execution_order
        and not any(n.endswith(SCRIPT_SUFFIXES_RUN) for n in files)
    ):
        raise FolderError(f"{path} holds no .py or .sh file to run")
    return Folder(package, files, manifest, secrets)


def sql_steps(folder: Folder) -> list[str]:
    """The folder's steps that are .sql files (they need a database to run against)."""
    return [name for name in steps(folder) if name.endswith(".sql")]


def steps(folder: Folder) -> list[str]:
    """The files that run as steps, in order: the entrypoint alone, or the execution order, or
    every .py and .sh by name (as the FerrisPackage made of the folder runs them)."""
    if folder.manifest.entrypoint:
        return [folder.manifest.entrypoint]
    if folder.manifest.execution_order:
        return list(folder.manifest.execution_order)
    return [name for name in folder.files if name.endswith(SCRIPT_SUFFIXES_RUN)]
