"""The ferris_ef helper, exercised as scripts use it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def run_script(tmp_path: Path, source: str, argument: dict[str, object]) -> str:
    script = tmp_path / "s.py"
    script.write_text(source)
    return subprocess.run(
        [sys.executable, str(script), json.dumps(argument)], capture_output=True, text=True, check=True, cwd=tmp_path
    ).stdout


def test_ferris_ef_contract(tmp_path: Path) -> None:
    argument = {"a": 1, "package_name": "p", "package_id": "pid", "run_id": "r", "secrets": {"S": "v"}}
    output = run_script(
        tmp_path,
        (
            "from ferris_ef import get_secret, get_param, context\n"
            "print(get_secret('S'), get_param('a'), get_secret('X'), get_param('Y'))\n"
            "print(sorted(context.params), context.package.name, context.package.id, context.secrets.get('S'))\n"
            "print(context.config, context.run_id)\n"
        ),
        argument,
    )
    assert output.splitlines() == [
        "Secret X not found!",
        "Parameter Y not found!",
        "v 1 None None",
        "['a', 'package_id', 'package_name', 'run_id'] p pid v",
        "{} r",
    ]
