"""The runner's pure parts: script environment, interpreters."""

from __future__ import annotations

import sys
from pathlib import Path

from ferris_runner.main import command_for, script_env


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


def test_sigterm_reaches_the_running_script_and_no_later_step(tmp_path: Path) -> None:
    import signal
    import threading
    import time
    from typing import Any, cast

    from ferris_runner.main import Termination, run_step

    script = tmp_path / "slow.py"
    script.write_text("import time\nprint('started', flush=True)\ntime.sleep(60)\n")
    config = tmp_path / "config.json"
    config.write_text("{}")
    termination = Termination()
    # The handler as SIGTERM would call it, once the script runs.
    threading.Timer(1.0, termination.handle, args=(signal.SIGTERM, None)).start()
    started = time.monotonic()

    class Api:  # what the step's live output is sent to
        def chunk(self, idx: int, offset: int, text: str) -> bool:
            return True

    code, output = run_step(0, script, "{}", tmp_path, config, cast(Any, Api()), None, termination=termination)
    assert code == -signal.SIGTERM
    assert "started" in output
    assert time.monotonic() - started < 30
    assert termination.requested
