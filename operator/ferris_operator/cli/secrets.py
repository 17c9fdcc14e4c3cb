"""`ferris secret-writes`: what the namespace's runs wrote into the project's and the platform's
secrets, and what they were refused, newest first: names, scope, run and version, never a
value. Through the Ferris server as the kubeconfig's user (`list ferrisprojectsecrets`)."""

from __future__ import annotations

import argparse
import urllib.parse
from typing import Any

from ferris_operator.cli.server import columns, print_page, register_common


def register(commands: Any) -> None:
    writes = commands.add_parser(
        "secret-writes", help="secrets the namespace's scripts wrote (or were refused), newest first; names only"
    )
    register_common(writes)
    writes.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    writes.set_defaults(handler=cmd_secret_writes)


def table(writes: list[dict[str, Any]]) -> list[str]:
    """Lines to print. Pure."""
    rows = [("TIME", "RUN", "PACKAGE", "SCOPE", "NAME", "VERSION", "OUTCOME")]
    rows += [
        (w["at"] or "", w["run"], w["package"], w["scope"], w["name"], str(w["version"] or "-"), w["outcome"])
        for w in writes
    ]
    refusals = [f"{w['run']}: {w['message']}" for w in writes if w["outcome"] != "written"]
    return columns(rows) + (["", "refused:", *refusals] if refusals else [])


def cmd_secret_writes(args: argparse.Namespace) -> int:
    path = f"/api/v1/namespaces/{urllib.parse.quote(args.namespace)}/secretwrites"
    empty = f"no secret writes by runs of namespace {args.namespace}"
    return print_page(args, "secret-writes", path, empty, table)
