"""`ferris` starts without what only one command needs: building the parser imports neither
aiohttp (the console proxy) nor the database pool and the KMS clients (the key commands); the
command that needs them imports them when it runs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("aiohttp", "psycopg_pool", "grpc", "ferris_operator.cli.console_proxy", "ferris_operator.cli.key_commands")


def python(code: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERRIS_")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    return done.stdout.splitlines()


def test_building_the_parser_imports_no_command_s_heavy_modules() -> None:
    loaded = python(
        "import sys\nfrom ferris_operator.cli.main import build_parser\nbuild_parser()\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    assert loaded == ["[]"]


def test_a_command_imports_its_module_when_it_runs() -> None:
    out = python(
        "import sys\nfrom ferris_operator.cli.main import build_parser\n"
        "args = build_parser().parse_args(['keys', 'status'])\n"
        "try:\n    args.handler(args)\nexcept SystemExit as exc:\n    print(exc)\n"
        "print('ferris_operator.cli.key_commands' in sys.modules)"
    )
    assert out == ["ferris keys: --database-url is required (or FERRIS_DATABASE_URL)", "True"]


def closed_port_kubeconfig(path: Path) -> Path:
    """A kubeconfig whose API server is a local port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: k, cluster: {{server: 'https://127.0.0.1:{port}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u, namespace: team}}]\n"
    )
    return path


@pytest.mark.parametrize("verb", [["runs"], ["seal", "--package", "p", "-"]])
def test_a_verb_that_reads_one_object_loads_no_typed_api(tmp_path: Path, verb: list[str]) -> None:
    """The core API's class costs a command 0.35 s of CPU to import (0.9 s for `ferris runs`)."""
    config = closed_port_kubeconfig(tmp_path / "config")
    out = python(
        "import sys\nfrom ferris_operator.cli.main import build_parser\n"
        f"args = build_parser().parse_args({verb!r} + ['--kubeconfig', {str(config)!r}])\n"
        "sys.stdin = __import__('io').TextIOWrapper(__import__('io').BytesIO(b'{\"A\": \"b\"}'))\n"
        "try:\n    args.handler(args)\nexcept Exception:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('kubernetes.client.api.')))"
    )
    assert out == ["[]"]


@pytest.mark.parametrize("verb", [["runs"], ["run", "hello"], ["seal", "--package", "p", "-"], ["schedules"]])
def test_an_api_server_that_does_not_answer_is_one_line_naming_it(tmp_path: Path, verb: list[str]) -> None:
    config = closed_port_kubeconfig(tmp_path / "config")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERRIS_")} | {"KUBECONFIG": str(config)}
    ferris = str(Path(sys.executable).parent / "ferris")
    done = subprocess.run([ferris, *verb], input='{"A": "b"}', capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith(f"ferris {verb[0]}: cannot reach the API server at https://127.0.0.1:"), line
    assert "(context 'c'): " in line and "Connection refused" in line and "kubectl cluster-info" in line
