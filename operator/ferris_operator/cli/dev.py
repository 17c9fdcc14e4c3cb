"""`ferris dev run DIR`: a package folder run on a laptop through the runner's own code, which
ships in the runner's distribution (`ferris-dev`); the operator's CLI only hands over."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any


def register(commands: Any) -> None:
    dev = commands.add_parser("dev", help="run a package folder on this machine, without a cluster")
    verbs = dev.add_subparsers(dest="dev_command", required=True, metavar="VERB")
    run = verbs.add_parser(
        "run", help="DIR [-p KEY=VALUE] [--secrets secrets.json]: its steps in order, EF_ENV=local", add_help=False
    )
    run.add_argument("rest", nargs=argparse.REMAINDER)
    run.set_defaults(handler=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    beside = Path(sys.executable).parent / "ferris-dev"  # installed into the same environment
    local = str(beside) if beside.exists() else shutil.which("ferris-dev")
    if local is None:
        print(
            "ferris dev run: the runner's local mode is missing: pip install ferris-runner (ferris-dev)",
            file=sys.stderr,
        )
        return 2
    return subprocess.call([local, *args.rest])
