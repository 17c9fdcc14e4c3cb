"""`ferris run`: a FerrisRun made as the kubeconfig's user; with secret params (``-s``) or files
for file params (``-p KEY=@PATH``), made through the Ferris server, which keeps them encrypted
and out of the FerrisRun."""

from __future__ import annotations

import argparse
import base64
import json
import time
from pathlib import Path
from typing import Any

from ferris_operator import model, reasons
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
        help="override a param (VALUE is parsed as JSON when it can be); KEY=@PATH: the file at PATH for a file"
        " param, uploaded through the Ferris server",
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


def parse_params(pairs: list[str], flag: str = "-p", as_text: bool = False) -> dict[str, Any]:
    """KEY=VALUE pairs; each VALUE parsed as JSON when it can be, or (``as_text``: a secret,
    passed as typed) never."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"ferris run: {flag} takes KEY=VALUE, got {key!r}")
        try:
            params[key] = value if as_text else json.loads(value)
        except ValueError:
            params[key] = value
    return params


def _pairs(pairs: list[str]) -> list[tuple[str, str]]:
    return [(key, value) for key, _, value in (pair.partition("=") for pair in pairs)]


def read_file(path: str) -> dict[str, str]:
    """A file param's file as the server takes it: its own name and its content in base64."""
    from ferris_operator.packages.params_schema import MAX_FILE_BYTES

    file = Path(path)
    try:
        size = file.stat().st_size
        if size > MAX_FILE_BYTES:
            raise SystemExit(f"ferris run: {path} is {size} bytes, over the {MAX_FILE_BYTES} a file param takes")
        content = file.read_bytes()
    except OSError as exc:
        raise SystemExit(f"ferris run: cannot read {path}: {exc.strerror}") from None
    return {"name": file.name, "content": base64.b64encode(content).decode()}


def progress_line(run: dict[str, Any]) -> str:
    status = run.get("status") or {}
    steps = status.get("steps") or []
    marks = {"Succeeded": "ok", "Failed": "FAILED", "Running": "..", "Skipped": "skipped", "Pending": "  "}
    parts = [f"{s['name']}[{marks.get(s['phase'], s['phase'])}]" for s in steps]
    ready: dict[str, Any] = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    if ready.get("reason") == reasons.QUEUED:  # with Kueue: where it waits
        parts.append(f"({ready.get('message', 'queued')})")
    return f"{run['metadata']['name']}: {status.get('phase', 'Pending')} {status.get('progress', '')} {' '.join(parts)}"


def cmd_run(args: argparse.Namespace) -> int:
    from kubernetes import client

    api = client.CustomObjectsApi(context_of(args).api_client())
    if args.secret_param or any(pair.partition("=")[2].startswith("@") for pair in args.param):
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
    from ferris_operator.cli.server import post_to_server

    files = {key: read_file(value[1:]) for key, value in _pairs(args.param) if value.startswith("@")}
    plain = [pair for pair in args.param if pair.partition("=")[0] not in files]
    params = {**parse_params(plain), **parse_params(args.secret_param, "-s", as_text=True)}
    body: dict[str, Any] = {"package": args.package, "params": params}
    if files:
        body["files"] = files
    if args.timeout:
        body["timeoutSeconds"] = args.timeout
    answer = post_to_server(args, f"/api/v1/namespaces/{args.namespace}/runs", body)
    return None if answer is None else str(answer["name"])
