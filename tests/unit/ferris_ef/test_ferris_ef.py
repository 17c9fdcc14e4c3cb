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


TOUR = (
    "import json, sys\n"
    "from ferris_ef import context, get_param, get_secret\n"
    "print('params', get_param('region'), context.package.name, context.package.id)\n"
    "print('secret', get_secret('TOKEN'), context.secrets.get('NONE'))\n"
    "print('config', context.config)\n"
    "print('state before', context.state.get())\n"
    "context.state.put('runs', context.state.get().get('runs', 0) + 1)\n"
    "print('event', context.events.send('com.example.done', data={'n': 1}) != '')\n"
    "print('retry', context.scheduler.retry(minutes=5))\n"
    "context.outputs.set('rows', 3)\n"
)


def test_the_executors_local_mode_reads_ef_env_json_beside_the_script_and_keeps_state_there(tmp_path: Path) -> None:
    """EF_ENV=local as the Ferris executor had it: a script written for it runs unchanged on a laptop."""
    env = {"params": {"package_name": "p", "package_id": "pid", "region": "eu"}, "secrets": {"TOKEN": "t"}}
    (tmp_path / "ef_env.json").write_text(json.dumps({**env, "config": {"mode": "dev"}}))
    script = tmp_path / "tour.py"
    script.write_text(TOUR)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()  # run from another folder: ef_env.json is found beside the script
    local = {"PATH": "/usr/bin:/bin", "EF_ENV": "local"}
    first = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=local, cwd=elsewhere)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[5].startswith('[EF_ENV=local] event not sent: {"id": ')  # its id is made per call
    assert lines[:5] + lines[6:] == [
        "params eu p pid",
        "Secret NONE not found!",
        "secret t None",
        "config {'mode': 'dev'}",
        "state before {}",
        "event True",
        '[EF_ENV=local] retry not scheduled: {"params": {}, "afterSeconds": 300}',
        "retry local-retry",
        "[EF_ENV=local] output rows = 3",
    ]
    again = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=local, cwd=elsewhere)
    assert "state before {'runs': 1}" in again.stdout
    assert json.loads((tmp_path / "ef_package_state.json").read_text()) == {"runs": 2}


def test_local_mode_without_ef_env_json_says_what_to_write(tmp_path: Path) -> None:
    script = tmp_path / "s.py"
    script.write_text("from ferris_ef import get_param\nget_param('x')\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env={"EF_ENV": "local"})
    assert done.returncode == 1 and "ef_env.json is missing; write params, secrets and config there" in done.stderr
    (tmp_path / "ef_env.json").write_text('{"params": {"package_name": "p"}}')
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env={"EF_ENV": "local"})
    assert "needs params with package_name and package_id" in done.stderr
