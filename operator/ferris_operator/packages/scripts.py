"""A package's scripts, read from where they live (inline, or a ConfigMap key), named safely and
bounded in total. Checked when the package is reconciled and again when a run starts: a
ConfigMap-sourced script may have changed in between. Pure: ConfigMaps come through ``read``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ferris_operator import model, reasons
from ferris_operator.bodies import Script
from ferris_operator.problems import Problem

ReadConfigMap = Callable[[str], dict[str, Any] | None]


def read_scripts(scripts: Sequence[Script], read: ReadConfigMap, *, at_run_start: bool) -> list[tuple[str, str]]:
    """(name, content) of every script in order, each ConfigMap read once. A Problem when a name
    is not a plain file name, a source is missing (``retry``: it may yet be created) or the
    scripts total more than ``model.MAX_SCRIPTS_BYTES``."""
    if not scripts:
        raise Problem(reasons.INVALID_SCRIPTS, "spec.scripts is empty; add at least one script")
    configmaps: dict[str, dict[str, Any] | None] = {}
    contents: list[tuple[str, str]] = []
    total = 0
    for script in scripts:
        name = str(script["name"])
        if "/" in name or name in (".", ".."):
            raise Problem(reasons.INVALID_SCRIPTS, f"spec.scripts: name {name!r} must be a file name without a path")
        if "configMapRef" in script:
            ref = script["configMapRef"]
            if ref["name"] not in configmaps:
                configmaps[ref["name"]] = read(ref["name"])
            found = ((configmaps[ref["name"]] or {}).get("data") or {}).get(ref["key"])
            if found is None:
                raise Problem(
                    reasons.SCRIPT_SOURCE_MISSING,
                    f"spec.scripts[{name}]: ConfigMap {ref['name']} with key {ref['key']} not found; create it",
                    retry=True,
                )
            content = str(found)
        else:
            content = str(script.get("content", ""))
        total += len(content.encode())
        if total > model.MAX_SCRIPTS_BYTES:
            fix = "checked again at run start: shrink the ConfigMap-sourced scripts" if at_run_start else "shrink them"
            raise Problem(
                reasons.INVALID_SCRIPTS,
                f"spec.scripts: the scripts reach {total} bytes at script {name}, over the limit of "
                f"{model.MAX_SCRIPTS_BYTES}; {fix}",
            )
        contents.append((name, content))
    return contents
