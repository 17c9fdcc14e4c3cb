"""A package's files, read from where they live (inline text, a ConfigMap key, or several keys
whose contents join into one file: one over a ConfigMap's 1 MiB), named safely and bounded in
total (``model.MAX_PACKAGE_BYTES``, binary files included). Checked when the package is
reconciled and again when a run starts: a ConfigMap-sourced file may have changed in between.
Pure: ConfigMaps come through ``read``."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Any

from ferris_operator import model, reasons
from ferris_operator.bodies import ConfigMapKeyRef, Script
from ferris_operator.problems import Problem

ReadConfigMap = Callable[[str], dict[str, Any] | None]


def _key_of(configmap: dict[str, Any] | None, key: str) -> bytes | None:
    """A ConfigMap key's bytes, from ``data`` (text) or ``binaryData``; None when absent."""
    if configmap is None:
        return None
    text = (configmap.get("data") or {}).get(key)
    if text is not None:
        return str(text).encode("utf-8")
    encoded = (configmap.get("binaryData") or {}).get(key)
    if encoded is None:
        return None
    try:
        return base64.b64decode(str(encoded), validate=True)
    except (binascii.Error, ValueError):
        return None


def _sources(script: Script) -> list[ConfigMapKeyRef]:
    if "configMapRef" in script:
        return [script["configMapRef"]]
    return list(script.get("configMapRefs") or [])


def read_scripts(scripts: Sequence[Script], read: ReadConfigMap, *, at_run_start: bool) -> list[tuple[str, bytes]]:
    """(name, content) of every file in order, each ConfigMap read once. A Problem when a name
    is not a plain file name, a source is missing (``retry``: it may yet be created) or the
    files total more than ``model.MAX_PACKAGE_BYTES``."""
    if not scripts:
        raise Problem(reasons.INVALID_SCRIPTS, "spec.scripts is empty; add at least one script")
    configmaps: dict[str, dict[str, Any] | None] = {}
    contents: list[tuple[str, bytes]] = []
    total = 0
    for script in scripts:
        name = str(script["name"])
        if "/" in name or name in (".", ".."):
            raise Problem(reasons.INVALID_SCRIPTS, f"spec.scripts: name {name!r} must be a file name without a path")
        sources = _sources(script)
        if sources:
            pieces = []
            for ref in sources:
                if ref["name"] not in configmaps:
                    configmaps[ref["name"]] = read(ref["name"])
                found = _key_of(configmaps[ref["name"]], ref["key"])
                if found is None:
                    raise Problem(
                        reasons.SCRIPT_SOURCE_MISSING,
                        f"spec.scripts[{name}]: ConfigMap {ref['name']} with key {ref['key']} (in data or binaryData)"
                        " not found; create it",
                        retry=True,
                    )
                pieces.append(found)
            content = b"".join(pieces)
        else:
            content = str(script.get("content", "")).encode("utf-8")
        total += len(content)
        if total > model.MAX_PACKAGE_BYTES:
            fix = "checked again at run start: shrink the ConfigMap-sourced files" if at_run_start else "shrink them"
            raise Problem(
                reasons.INVALID_SCRIPTS,
                f"spec.scripts: the files reach {total} bytes at {name}, over a package's limit of "
                f"{model.MAX_PACKAGE_BYTES}; {fix}",
            )
        contents.append((name, content))
    return contents
