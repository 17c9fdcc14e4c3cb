"""`ferris-devcluster demo | build | images | up | down | env | status`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ferris_devcluster import binaries, imagebuild, kueue
from ferris_devcluster.cluster import STATE_FILE, LocalCluster, stop_from_state
from ferris_devcluster.demo import run_demo
from ferris_devcluster.helm_values import write_local_values


def default_dir(name: str) -> Path:
    return binaries.cache_root() / "clusters" / name


def export_line(kubeconfig: Path, bins: binaries.Binaries) -> str:
    """What `up` and `env` print: the cluster's kubeconfig, and its kubectl and helm on PATH."""
    return f"export KUBECONFIG={kubeconfig} PATH={Path(bins['helm']).parent}:$PATH"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ferris-devcluster", description="A local Kubernetes control plane, and the Ferris demo on it."
    )
    parser.add_argument(
        "command",
        choices=["demo", "build", "images", "up", "down", "env", "status"],
        help="demo: local cluster + PostgreSQL + operator, then run examples/secrets-demo; "
        "images: build the operator and runner images into the local image store",
    )
    parser.add_argument("--name", default="default", help="several named clusters can run side by side")
    parser.add_argument("--keep", action="store_true", help="demo: leave everything running, print how to reach it")
    parser.add_argument(
        "--runtime",
        choices=["processes", "containers"],
        default=os.environ.get("FERRIS_NODE_RUNTIME", "processes"),
        help="demo, up: how the node runs pods: host processes (fast) or containers from the images "
        "`make images` builds (podman + runc)",
    )
    parser.add_argument(
        "--kueue",
        action="store_true",
        help="up: run Kueue's controller too (built into the cache the first time), for chart kueue.enabled=true",
    )
    args = parser.parse_args(argv)
    directory = default_dir(args.name)
    if args.command == "demo":
        return run_demo(keep=args.keep, runtime=args.runtime)
    if args.command == "build":
        found = binaries.resolve(build_missing=True)
        print(found.describe())
        if args.kueue:
            print(f"kueue {kueue.VERSION} from {kueue.binary()}")
        return 0
    if args.command == "images":
        for reference in imagebuild.build_images():
            print(reference)
        return 0
    if args.command == "up":
        if (directory / STATE_FILE).exists():
            stop_from_state(directory)
        directory.mkdir(parents=True, exist_ok=True)
        cluster = LocalCluster(directory, runtime=args.runtime, kueue=args.kueue)
        info = cluster.start()
        values = write_local_values(directory / "values-local.yaml")
        # The processes run on in their own sessions; `down` stops them.
        print(export_line(info.kubeconfig, cluster.bins))
        print(
            "to install Ferris with Helm and an evaluation PostgreSQL (images: `make images` first in the "
            f"containers runtime):\n  helm install ferris charts/ferris -n ferris-system --create-namespace "
            f"--set postgresql.enabled=true -f {values}\n  kubectl apply -k examples/secrets-demo",
            file=sys.stderr,
        )
        return 0
    if args.command == "down":
        stopped = stop_from_state(directory)
        print("stopped" if stopped else f"no cluster named {args.name!r} is running", file=sys.stderr)
        return 0
    state = directory / STATE_FILE
    if not state.exists():
        print(f"no cluster named {args.name!r} is running; start one with `ferris-devcluster up`", file=sys.stderr)
        return 1
    print(export_line(directory / "admin.kubeconfig", binaries.resolve(build_missing=False)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
