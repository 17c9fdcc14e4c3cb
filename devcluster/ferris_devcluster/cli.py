"""`ferris devcluster build | up | down | env | status`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ferris_devcluster import binaries
from ferris_devcluster.cluster import STATE_FILE, LocalCluster, stop_from_state


def default_dir(name: str) -> Path:
    root = Path(os.environ.get("FERRIS_CACHE_DIR", Path.home() / ".cache" / "ferris"))
    return root / "clusters" / name


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ferris devcluster", description="A local Kubernetes control plane.")
    parser.add_argument("command", choices=["build", "up", "down", "env", "status"])
    parser.add_argument("--name", default="default", help="several named clusters can run side by side")
    args = parser.parse_args(argv)
    directory = default_dir(args.name)
    if args.command == "build":
        found = binaries.resolve(build_missing=True)
        print(found.describe())
        return 0
    if args.command == "up":
        if (directory / STATE_FILE).exists():
            stop_from_state(directory)
        directory.mkdir(parents=True, exist_ok=True)
        cluster = LocalCluster(directory)
        info = cluster.start()
        # The processes run on in their own sessions; `down` stops them.
        print(info.export_line())
        return 0
    if args.command == "down":
        stopped = stop_from_state(directory)
        print("stopped" if stopped else f"no cluster named {args.name!r} is running", file=sys.stderr)
        return 0
    state = directory / STATE_FILE
    if not state.exists():
        print(f"no cluster named {args.name!r} is running; start one with `ferris devcluster up`", file=sys.stderr)
        return 1
    print(f"export KUBECONFIG={directory / 'admin.kubeconfig'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
