"""The process node's image table: which local command stands for which image.

An entry maps an image repository (the reference without tag or digest) to its entrypoint.
An empty entrypoint means "run the container's command on the host as it is" (busybox-like
images whose commands exist here). An image not in the table cannot be pulled.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

RUNNER_IMAGE = "ghcr.io/ferris-run/ferris-runner"
OPERATOR_IMAGE = "ghcr.io/ferris-run/ferris-operator"


def default_table() -> dict[str, list[str]]:
    bin_dir = Path(sys.executable).parent
    return {
        RUNNER_IMAGE: [str(bin_dir / "ferris-runner")],
        OPERATOR_IMAGE: [str(bin_dir / "ferris-operator")],
        "busybox": [],
        "docker.io/library/busybox": [],
        "python": [],
        "docker.io/library/python": [],
        # The chart's evaluation PostgreSQL: a stand-in keeping the official image's contract.
        "postgres": [sys.executable, "-m", "ferris_devcluster.pgimage"],
        "docker.io/library/postgres": [sys.executable, "-m", "ferris_devcluster.pgimage"],
    }


def image_roots() -> list[str]:
    """Host directories that make up the mapped images' file systems (the Python install, the
    virtualenv, this checkout). A volume mounted over one of their parents (an emptyDir at
    /tmp, say) must not hide them, just as a volume never hides a container image's /usr."""
    checkout = Path(__file__).resolve().parents[3]
    return sorted({sys.prefix, sys.base_prefix, str(checkout)})


def load_table(extra: str | None = None) -> dict[str, list[str]]:
    table = default_table()
    for source in (os.environ.get("FERRIS_NODE_IMAGES"), extra):
        if source:
            table.update(json.loads(source))
    return table


def repository(image: str) -> str:
    """``registry/repo:tag@sha256:...`` -> ``registry/repo``."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    return name


def resolve_argv(
    table: dict[str, list[str]], image: str, command: list[str] | None, args: list[str] | None
) -> list[str] | None:
    """The argv to run, or None when the image is not in the table (it cannot be pulled)."""
    entrypoint = table.get(repository(image))
    if entrypoint is None:
        return None
    if command:
        argv = list(command) + list(args or [])
        if entrypoint and "/" not in argv[0]:
            # A bare command is looked up in the image first, as the image's PATH would find
            # it: for a mapped image, the directory of its entrypoint.
            candidate = Path(entrypoint[0]).parent / argv[0]
            if candidate.exists():
                argv[0] = str(candidate)
        return argv
    return list(entrypoint) + list(args or [])
