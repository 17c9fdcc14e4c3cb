"""The `ferris` command line: seal, keys, run, schedules; runs, results, logs, events, send-event and console
(through the server). The
demo and the local cluster are `ferris-devcluster`, which ships apart from the operator."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ferris_operator.cli import console, dev, events, keys, package, runs, schedules, seal, secrets, server
from ferris_operator.cli.kubeconfig import context_of
from ferris_operator.cli.refusals import api_refusal


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ferris", description="Run scripts with secrets on Kubernetes.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    seal.register(commands)
    keys.register(commands)
    runs.register(commands)
    schedules.register(commands)
    server.register(commands)
    events.register(commands)
    secrets.register(commands)
    console.register(commands)
    package.register(commands)
    dev.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if hasattr(args, "kubeconfig") and getattr(args, "namespace", "") is None:
        context_of(args)  # no -n: the kubeconfig context's namespace, as kubectl takes it
    try:
        return int(args.handler(args))
    except Exception as exc:
        refusal = api_refusal(exc, getattr(args, "_kube_context", None))  # the context the command loaded
        if refusal is None:
            raise
        print(f"ferris {args.command}: {refusal}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
