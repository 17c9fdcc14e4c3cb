"""`make test` relies on pytest-xdist's groups: the chart's tests share one install and the
container-mode tests one cluster, each on one worker. A pytest and xdist pair that drops the
group (pytest 9.2 with xdist 3.8 did, silently: every worker then built its own) fails here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

GROUPED = """
import os
import pytest

pytestmark = pytest.mark.xdist_group("together")


@pytest.mark.parametrize("i", range(8))
def test_one_of_a_group(i):
    with open(os.environ["WORKERS_FILE"], "a") as out:
        out.write(os.environ["PYTEST_XDIST_WORKER"] + "\\n")
"""


def test_a_group_runs_on_one_worker(tmp_path: Path) -> None:
    (tmp_path / "test_grouped.py").write_text(GROUPED)
    (tmp_path / "test_loose.py").write_text("def test_loose():\n    pass\n")
    seen = tmp_path / "workers"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "3", "--dist", "loadgroup", "-p", "no:cacheprovider",
         "-p", "no:randomly", "--rootdir", str(tmp_path), "-c", "/dev/null", "--basetemp", str(tmp_path / "inner"),
         str(tmp_path)],
        env={"WORKERS_FILE": str(seen), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    workers = seen.read_text().split()
    assert len(workers) == 8 and len(set(workers)) == 1, workers
