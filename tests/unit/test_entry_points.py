"""The operator, the server and the runner as their container's first process: PID 1 of a PID
namespace of their own, as the container runtime starts them, where the kernel drops a signal
the process set no handler for. A SIGTERM while they start must end them at once, not after the
pod's grace period (nor, for the runner, let a cancelled run's scripts start)."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
SIGTERM_EXIT = 128 + signal.SIGTERM
HEAVY = ("kopf", "kubernetes", "psycopg", "cryptography", "aiohttp", "jinja2", "ferris_ciphertext", "ferris_wire")


@pytest.mark.parametrize(
    ("module", "entry"),
    [("ferris_operator.entry", "operator"), ("ferris_operator.entry", "server"), ("ferris_runner.entry", "runner")],
)
def test_an_entry_point_sets_its_sigterm_handler_before_importing_its_program(module: str, entry: str) -> None:
    probe = (
        "import signal, sys\n"
        f"import {module} as entry\n"
        "def stop(*_):\n"
        "    loaded = sorted({m.split('.')[0] for m in sys.modules} & set(sys.argv[1:]))\n"
        "    print('loaded when the handler was set:', loaded); raise SystemExit(0)\n"
        "signal.signal = lambda signum, handler: stop() if signum == signal.SIGTERM else None\n"
        f"entry.{entry}()\n"
    )
    result = subprocess.run([sys.executable, "-c", probe, *HEAVY], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "loaded when the handler was set: []", result.stdout + result.stderr


def key_ring(directory: Path) -> Path:
    directory.mkdir()
    (directory / "k1").write_text(base64.b64encode(os.urandom(32)).decode())
    (directory / "active").write_text("k1")
    return directory


def namespace_init(unshare_pid: int, timeout: float = 30) -> int:
    """The PID (as the host sees it) of the process ``unshare --fork`` started: PID 1 inside."""
    deadline = time.monotonic() + timeout
    while not (children := Path(f"/proc/{unshare_pid}/task/{unshare_pid}/children").read_text().split()):
        assert time.monotonic() < deadline, "unshare started nothing"
        time.sleep(0.01)
    return int(children[0])


def catches_sigterm(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status").read_text()
    caught = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), 16)
    return bool(caught & (1 << (signal.SIGTERM - 1)))


def wait_until(condition: object, what: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert process.poll() is None, f"ended before {what}: {log.read_text()[-2000:]}"
        assert time.monotonic() < deadline, f"never {what}: {log.read_text()[-2000:]}"
        time.sleep(0.01)


@pytest.mark.parametrize("program", ["ferris-operator", "ferris-server"])
@pytest.mark.parametrize("when", ["as soon as it can catch it", "while it waits for its database"])
def test_sigterm_while_starting_ends_pid_1_at_once(program: str, when: str, tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "FERRIS_MASTER_KEY_DIR": str(key_ring(tmp_path / "ring")),
        "FERRIS_DATABASE_URL": "postgresql://ferris@127.0.0.1:1/ferris",  # nothing listens on port 1
    }
    log = tmp_path / "log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--kill-child", str(BIN / program)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        init = namespace_init(process.pid)
        if when == "while it waits for its database":
            wait_until(lambda: b"not reachable yet" in log.read_bytes(), "waiting for its database", process, log)
        else:
            wait_until(lambda: catches_sigterm(init), "catching SIGTERM", process, log)
        os.kill(init, signal.SIGTERM)  # from outside its namespace, as the runtime sends it
        try:
            code = process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{program} as PID 1 went on after SIGTERM: {log.read_text()[-1000:]}")
        assert code == SIGTERM_EXIT, log.read_text()[-1000:]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
