"""The runner's pure parts: script environment, interpreters."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import cast

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
    assert command_for(tmp_path / "q.sql", "{}")[:5] == [
        sys.executable,
        "-u",
        "-m",
        "ferris_sql.step",
        str(tmp_path / "q.sql"),
    ]


def test_sql_settings_come_from_the_secret_the_document_names() -> None:
    from ferris_runner.main import sql_settings, url_passwords
    from ferris_wire.runner_api import RunDocument

    base: dict[str, object] = {"sqlConnectionSecret": "db", "sqlTransaction": "perStatement", "sqlMaxRows": 5}
    document = cast(RunDocument, base)
    assert sql_settings(document, {"db": "postgresql://u:p@h/d"}) == {
        "secret": "db",
        "url": "postgresql://u:p@h/d",
        "transaction": "perStatement",
        "maxRows": 5,
    }
    assert sql_settings(document, {"db": {"not": "a string"}})["url"] is None  # type: ignore[index]
    assert sql_settings(cast(RunDocument, {}), {"db": "x"}) is None
    assert set(url_passwords("postgresql://u:p%40ss@h/d").values()) == {"p%40ss", "p@ss"}
    assert url_passwords("host=h password=x") == {}


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
