"""`ferris run`: a FerrisRun made as the kubeconfig's user; with secret params (``-s``), made
through the Ferris server, which keeps them encrypted and out of the FerrisRun."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from ferris_operator import model
from ferris_operator.builders.run_manifest import run_manifest
from ferris_operator.cli.kubeconfig import add_arguments, context_of


def register(commands: Any) -> None:
    run = commands.add_parser("run", help="create a FerrisRun of a package")
    run.add_argument("package")
    add_arguments(run)
    run.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a param (VALUE is parsed as JSON when it can be)",
    )
    run.add_argument(
        "-s",
        "--secret-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a param the package marks secret: sent to the Ferris server, never written in the FerrisRun",
    )
    run.add_argument(
        "--ferris-namespace", default="ferris-system", help="where Ferris is installed (for -s: the server)"
    )
    run.add_argument("--timeout", type=int, help="run timeout in seconds")
    run.add_argument("--wait", action="store_true", help="wait for the result; exit code from the run")
    run.add_argument("--follow", action="store_true", help="with --wait: print each step's output as it ends")
    run.set_defaults(handler=cmd_run)


def parse_params(pairs: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"ferris run: -p takes KEY=VALUE, got {pair!r}")
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    return params


def progress_line(run: dict[str, Any]) -> str:
    status = run.get("status") or {}
    steps = status.get("steps") or []
    marks = {"Succeeded": "ok", "Failed": "FAILED", "Running": "..", "Skipped": "skipped", "Pending": "  "}
    parts = [f"{s['name']}[{marks.get(s['phase'], s['phase'])}]" for s in steps]
    return f"{run['metadata']['name']}: {status.get('phase', 'Pending')} {status.get('progress', '')} {' '.join(parts)}"


def cmd_run(args: argparse.Namespace) -> int:
    from kubernetes import client

    api = client.CustomObjectsApi(context_of(args).api_client())
    if args.secret_param:
        name = _through_the_server(args)
        if name is None:
            return 1
    else:
        created: Any = api.create_namespaced_custom_object(
            model.GROUP,
            model.VERSION,
            args.namespace,
            model.RUNS,
            dict(run_manifest(args.package, parse_params(args.param), args.timeout)),
        )
        name = created["metadata"]["name"]
    print(f"ferrisrun.ferris.io/{name} created")
    if not args.wait:
        return 0
    last = ""
    printed: set[str] = set()
    while True:
        run: Any = api.get_namespaced_custom_object(model.GROUP, model.VERSION, args.namespace, model.RUNS, name)
        line = progress_line(run)
        if line != last:
            print(line, flush=True)
            last = line
        status = run.get("status") or {}
        if args.follow:
            for step in status.get("steps") or []:
                if step["phase"] in ("Succeeded", "Failed") and step["name"] not in printed:
                    printed.add(step["name"])
                    print(f"--- {step['name']} (exit {step.get('exitCode')}) ---\n{step.get('outputTail', '')}")
        if status.get("phase") in model.TERMINAL:
            reason: dict[str, Any] = next((c for c in status.get("conditions") or [] if c["type"] == "Succeeded"), {})
            print(f"{name}: {status['phase']} ({reason.get('reason', '')}) {reason.get('message', '')}".rstrip())
            return 0 if status["phase"] == model.SUCCEEDED else 1
        time.sleep(0.5)


def _through_the_server(args: argparse.Namespace) -> str | None:
    """The run made by the server as the user asked, with the secret params; its name (None: refused)."""
    import sys

    from ferris_operator.cli.server import ServerError, server_client

    params = {**parse_params(args.param), **{k: str(v) for k, v in _pairs(args.secret_param).items()}}
    body: dict[str, Any] = {"package": args.package, "params": params}
    if args.timeout:
        body["timeoutSeconds"] = args.timeout
    try:
        _, answer = server_client(args).post(f"/api/v1/namespaces/{args.namespace}/runs", body)
    except ServerError as exc:
        print(f"ferris run: {exc}", file=sys.stderr)
        return None
    return str(answer["name"])


def _pairs(pairs: list[str]) -> dict[str, str]:
    """KEY=VALUE as given: a secret is passed as the text typed, never parsed."""
    found = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"ferris run: -s {key!r}: give KEY=VALUE")
        found[key] = value
    return found
