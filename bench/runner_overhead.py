"""Runner overhead: from process start to the first script's first line, against
`python -c pass` and against running the same script directly."""

from __future__ import annotations

import hashlib
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ferris_ciphertext.bundle import new_run_key, seal_bundle
from ferris_wire.runner_api import RunDocument

SCRIPT = "import time\nprint(time.time(), flush=True)\n"


class _Sink(BaseHTTPRequestHandler):
    """A stand-in runner API that accepts every report."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def _lay_out(root: Path, api_url: str) -> dict[str, str]:
    run_dir = root / "run"
    for sub in ("key", "bundle", "scripts"):
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    key = new_run_key()
    secrets = {f"SECRET_{i}": f"value-{i}-" + "x" * 32 for i in range(20)}
    (run_dir / "key" / "run.key").write_bytes(key)
    (run_dir / "key" / "token").write_text("token")
    made: RunDocument = {
        "runId": "run-1",
        "runName": "run",
        "namespace": "team",
        "packageName": "bench",
        "packageId": "pid",
        "params": {"p": 1},
        "config": {},
        "steps": ["first.py"],
        "files": ["first.py"],
        "contentKeys": [[hashlib.sha256(SCRIPT.encode()).hexdigest()]],
        "maskSecrets": True,
        "secretsInArgv": True,
        "secretsVersion": 1,
    }
    document = json.dumps(made)
    files = {"run.json": document, "script.0": SCRIPT}
    (run_dir / "bundle" / "bundle").write_bytes(seal_bundle(key, "run-1", secrets, files))
    (run_dir / "bundle" / "run.json").write_text(document)
    (run_dir / "scripts" / hashlib.sha256(SCRIPT.encode()).hexdigest()).write_text(SCRIPT)  # its part's key
    return {
        "PATH": "/usr/bin:/bin",
        "FERRIS_RUN_DIR": str(run_dir),
        "FERRIS_WORK_DIR": str(root / "work"),
        "FERRIS_RUN_UID": "run-1",
        "FERRIS_API_URL": api_url,
    }


def _first_line_after(argv: list[str], env: dict[str, str] | None, cwd: Path | None = None) -> float:
    start = time.time()
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True, cwd=cwd).stdout
    first = float(next(line for line in out.splitlines() if line.strip()).split()[0])
    return first - start


def _duration(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True)
    return time.perf_counter() - start


def measure(repeats: int = 15) -> dict[str, float]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    runner = str(Path(sys.executable).parent / "ferris-runner")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            env = _lay_out(root, f"http://127.0.0.1:{server.server_address[1]}")
            script = root / "direct.py"
            script.write_text(SCRIPT)
            _first_line_after([runner], env)  # warm the file cache
            runner_times = [_first_line_after([runner], env) for _ in range(repeats)]
            direct_times = [_first_line_after([sys.executable, str(script), "{}"], None) for _ in range(repeats)]
            pass_times = [_duration([sys.executable, "-c", "pass"]) for _ in range(repeats)]
    finally:
        server.shutdown()
    runner_ms = statistics.median(runner_times) * 1000
    return {
        "runner_to_first_line_ms": runner_ms,
        "direct_script_to_first_line_ms": statistics.median(direct_times) * 1000,
        "python_c_pass_ms": statistics.median(pass_times) * 1000,
        "overhead_over_python_pass_ms": runner_ms - statistics.median(pass_times) * 1000,
        "overhead_over_direct_script_ms": runner_ms - statistics.median(direct_times) * 1000,
    }
