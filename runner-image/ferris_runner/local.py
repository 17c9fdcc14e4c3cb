"""`ferris dev run DIR`: a package folder run on a laptop, without a cluster, through the runner's
own parts: the folder read as `ferris package` reads it, its `.jinja` files rendered, each step
given `sys.argv[1]` as in a run, its output masked line by line, and `ferris_ef` in the executor's
local mode (`EF_ENV=local`: params, secrets and config from `ef_env.json`; state kept in the
folder's `ef_package_state.json`; events, retries and outputs printed instead of sent). The
folder itself is not written to, but for that state."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from ferris_runner.main import command_for, secrets_file, url_passwords
from ferris_runner.masking import Masker
from ferris_runner.templates import TemplateFailed, render_templates
from ferris_wire.package_folder import LOCAL_STATE, FolderError, read_folder, steps

LOCAL_ID = "local"


def param(text: str) -> tuple[str, Any]:
    """``KEY=VALUE``: the value as JSON when it is JSON (``n=3``, ``on=true``), else the text."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def parser() -> argparse.ArgumentParser:
    found = argparse.ArgumentParser(prog="ferris dev run", description=__doc__.split("\n\n")[0])
    found.add_argument("folder", type=Path)
    found.add_argument("-p", "--param", type=param, action="append", default=[], help="KEY=VALUE (repeatable)")
    found.add_argument("--secrets", type=Path, help="a secrets.json (default: the folder's own, if any)")
    found.add_argument(
        "--sql-secret", metavar="NAME", help="the secret holding the database URL .sql steps run against"
    )
    found.add_argument(
        "--sql-transaction", choices=("single", "perStatement"), default="single", help="how .sql steps commit"
    )
    return found


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        folder = read_folder(args.folder)
    except FolderError as exc:
        print(f"ferris dev run: {exc}", file=sys.stderr)
        return 2
    raw = args.secrets.read_bytes() if args.secrets else folder.secrets or b"{}"
    secrets = json.loads(raw)
    if not isinstance(secrets, dict):
        print("ferris dev run: secrets.json must be a JSON object", file=sys.stderr)
        return 2
    params = {**dict(args.param), "package_name": folder.name, "package_id": LOCAL_ID}
    masked, sql = dict(secrets), None
    if args.sql_secret:
        url = secrets.get(args.sql_secret)
        url = url if isinstance(url, str) else None
        sql = {"secret": args.sql_secret, "url": url, "transaction": args.sql_transaction, "maxRows": 20}
        masked.update(url_passwords(url) if url else {})
    mask = Masker(masked)
    with tempfile.TemporaryDirectory(prefix="ferris-dev-") as scratch:
        work = Path(scratch)
        for name, content in folder.files.items():
            (work / name).write_bytes(content)
        state = args.folder / LOCAL_STATE
        if state.exists():
            shutil.copy(state, work / LOCAL_STATE)
        (work / "ef_env.json").write_text(json.dumps({"params": params, "secrets": secrets, "config": {}}))
        try:
            render_templates(work, folder.files, {**params, "run_id": LOCAL_ID})
            code = run_steps(work, steps(folder), {**params, "run_id": LOCAL_ID, "secrets": secrets}, mask, sql)
        except TemplateFailed as exc:
            print(f"ferris dev run: {exc}", file=sys.stderr)
            code = 1
        if (work / LOCAL_STATE).exists():
            shutil.copy(work / LOCAL_STATE, state)
    return code


def run_steps(
    work: Path, names: list[str], argument: dict[str, Any], mask: Masker, sql: dict[str, Any] | None = None
) -> int:
    """Each step in turn, as the runner runs it; the first that fails stops the rest."""
    env = {**os.environ, "EF_ENV": "local"}
    sql_fd = secrets_file(sql, "ferris-sql") if sql else None
    for name in names:
        print(f"=== {name} ===", flush=True)
        passed = {"FERRIS_SQL_FD": sql_fd} if sql_fd is not None and name.endswith(".sql") else {}
        process = subprocess.Popen(
            command_for(work / name, json.dumps(argument)),
            cwd=work,
            env={**env, **{key: str(fd) for key, fd in passed.items()}},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=tuple(passed.values()),
        )
        assert process.stdout is not None
        for raw in process.stdout:
            sys.stdout.write(mask(raw.decode("utf-8", errors="replace")))
            sys.stdout.flush()
        if process.wait() != 0:
            print(f"ferris dev run: step {name} exited with code {process.returncode}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
