"""Runs inside a pod's private mount namespace (started by ``unshare --mount``): binds the
pod's volumes at their mount paths, enters the working directory, then execs the container.

Usage: python -m ferris_devcluster.node.podexec SPEC.json -- the environment is the container's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def bind(source: str, target: str, read_only: bool) -> None:
    src = Path(source)
    dst = Path(target)
    if src.is_dir():
        dst.mkdir(parents=True, exist_ok=True)
    else:
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not dst.exists():
            dst.touch()
    subprocess.run(["mount", "--bind", source, target], check=True)
    if read_only:
        subprocess.run(["mount", "-o", "remount,bind,ro", target], check=True)


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    for mount in spec["mounts"]:
        bind(mount["source"], mount["target"], mount["readOnly"])
    workdir = spec.get("workingDir")
    if workdir:
        Path(workdir).mkdir(parents=True, exist_ok=True)
        os.chdir(workdir)
    argv = spec["argv"]
    try:
        os.execvp(argv[0], argv)  # noqa: S606 - this is the container's own command
    except OSError as exc:
        print(f"process-node: cannot start {argv[0]!r}: {exc.strerror}", file=sys.stderr)
        sys.exit(127)


if __name__ == "__main__":
    main()
