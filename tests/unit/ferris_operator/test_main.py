"""The operator's entry point: the database password never reaches a log line."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferris_operator.settings import Settings


def test_the_database_password_never_reaches_a_log_line_or_the_exit_message(caplog: pytest.LogCaptureFixture) -> None:
    from ferris_operator.process.startup import wait_and_migrate

    settings = Settings(database_url="postgresql://ferris:s3cret-pw@127.0.0.1:1/ferris", master_key_dir=Path("."))
    with caplog.at_level("DEBUG"), pytest.raises(SystemExit) as caught:
        wait_and_migrate(settings, timeout=1)  # one retry, logged, then the exit
    assert "s3cret-pw" not in str(caught.value) and "ferris:***@127.0.0.1:1" in str(caught.value)
    assert caplog.records and "s3cret-pw" not in caplog.text
