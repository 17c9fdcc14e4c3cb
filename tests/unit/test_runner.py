"""The runner's pure parts and the ferris_ef helper, exercised as scripts use them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ferris_runner.main import command_for, script_env
from ferris_runner.masking import Masker


def test_masks_values_and_their_escaped_forms() -> None:
    mask = Masker({"PASS": 'pa"ss$word', "CONN": {"user": "admin-user", "port": 5432}, "SHORT": "abc", "FLAG": True})
    text = 'pa"ss$word pa\\"ss$word admin-user 5432 abc True'
    assert mask(text) == "**** **** **** **** abc True"
    assert mask(str({"user": "admin-user", "port": 5432})) == "****"


def test_script_environment_drops_ferris_internals(monkeypatch: object, tmp_path: Path) -> None:
    import os

    os.environ["FERRIS_API_URL"] = "http://x"
    os.environ["FERRIS_RUN_UID"] = "u"
    try:
        env = script_env(tmp_path, tmp_path / "c.json", (3, 4))
    finally:
        del os.environ["FERRIS_API_URL"], os.environ["FERRIS_RUN_UID"]
    assert "FERRIS_API_URL" not in env and "FERRIS_RUN_UID" not in env
    assert env["FERRIS_STATE_FDS"] == "3,4" and env["HOME"] == str(tmp_path)


def test_interpreter_by_suffix(tmp_path: Path) -> None:
    assert command_for(tmp_path / "a.sh", "{}")[0] == "bash"
    assert command_for(tmp_path / "a.py", "{}")[0] == sys.executable


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
