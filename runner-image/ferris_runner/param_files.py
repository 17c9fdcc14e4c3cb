"""The files given for a run's file params: fetched through the runner API with the run's
token, checked against the size and SHA-256 sealed in the run's bundle (a file that differs is
refused, nothing of it kept), and placed in the work dir at ``.ferris-params/<param>/<name>``,
the path the param then holds."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from ferris_wire import runner_api as wire


class ParamFileMismatch(Exception):
    """A fetched file is not the one sealed in the bundle; the message names the param."""


def place(fetch: Callable[[str], bytes], files: list[wire.ParamFile], work: Path) -> dict[str, str]:
    """Each file fetched, checked and written; the params to give the script: param -> path."""
    paths: dict[str, str] = {}
    for file in files:
        name = Path(file["name"]).name  # the server kept a name without folders: never anything else
        if name != file["name"] or name in ("", ".", ".."):
            raise ParamFileMismatch(f"param {file['param']}: the file name {file['name']!r} is not a plain name")
        data = fetch(file["param"])
        if len(data) != file["bytes"] or hashlib.sha256(data).hexdigest() != file["sha256"]:
            raise ParamFileMismatch(
                f"param {file['param']}: the file fetched is not the one uploaded for this run"
                f" ({len(data)} bytes; {file['bytes']} sealed): it was changed where it was kept"
            )
        folder = work / wire.PARAM_FILES_DIR / file["param"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
        paths[file["param"]] = str(folder / name)
    return paths
