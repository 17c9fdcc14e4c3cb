"""Runs inside a pod's private mount namespace (started by ``unshare --mount``): binds the
pod's volumes at their mount paths, enters the working directory, then execs the container.

Usage: python -I -m ferris_devcluster.node.podexec SPEC.json -- the environment is the container's.

Every source is opened before anything is mounted, and bound through its file descriptor, so
that a volume mounted over a parent of another volume's source (an emptyDir at /tmp, say)
cannot hide that source.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
from pathlib import Path

MS_RDONLY = 0x1
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000

_libc = ctypes.CDLL("libc.so.6", use_errno=True)


def _mount(source: str | None, target: str, flags: int) -> None:
    result = _libc.mount(source.encode() if source else None, target.encode(), None, flags, None)
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {source} on {target}: {os.strerror(errno)}")


def prepare_target(source_is_dir: bool, target: Path) -> None:
    if source_is_dir:
        target.mkdir(parents=True, exist_ok=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            target.touch()


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    _mount(None, "/", MS_REC | MS_PRIVATE)
    opened = [(os.open(m["source"], os.O_PATH), Path(m["source"]).is_dir(), m) for m in spec["mounts"]]
    targets = [Path(m["target"]) for m in spec["mounts"]]
    preserved = [(os.open(p, os.O_PATH), Path(p)) for p in spec.get("preserve", []) if Path(p).is_dir()]
    for fd, is_dir, mount in opened:
        target = Path(mount["target"])
        prepare_target(is_dir, target)
        _mount(f"/proc/self/fd/{fd}", str(target), MS_BIND)
        if mount["readOnly"]:
            _mount(None, str(target), MS_BIND | MS_REMOUNT | MS_RDONLY)
        os.close(fd)
    for fd, path in preserved:  # put back image directories that a volume mounted over
        if any(target in path.parents for target in targets):
            path.mkdir(parents=True, exist_ok=True)
            _mount(f"/proc/self/fd/{fd}", str(path), MS_BIND | MS_REC)
        os.close(fd)
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
