"""`ferris` starts without what only one command needs: building the parser imports neither
aiohttp (the console proxy) nor the database pool and the KMS clients (the key commands); the
command that needs them imports them when it runs."""

from __future__ import annotations

import os
import subprocess
import sys

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
