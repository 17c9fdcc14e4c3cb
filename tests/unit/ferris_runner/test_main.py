"""The runner's pure parts: script environment, interpreters, output that fits a report."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ferris_runner.main import TRUNCATED, command_for, fit_output, script_env


def test_output_is_trimmed_to_fit_the_report_whatever_its_escapes() -> None:
    output = "\x01" * 1000  # six bytes each once escaped
    fitted = fit_output(output, limit=600)
    assert fitted.startswith(TRUNCATED) and len(json.dumps(fitted, ensure_ascii=False).encode()) <= 600
    assert fit_output("short", limit=600) == "short"
    assert fit_output("\x01" * 50, limit=10) == TRUNCATED  # not even one character fits beside the marker


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
