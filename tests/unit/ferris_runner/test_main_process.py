"""The runner as a process, with its inputs laid out as the Job mounts them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ferris_ciphertext.bundle import new_run_key, seal_bundle
from ferris_wire.runner_api import RunDocument

RUNNER = str(Path(sys.executable).parent / "ferris-runner")


def lay_out(tmp_path: Path, bundle_uid: str = "run-1", script: str = "print('hello')") -> tuple[Path, dict[str, str]]:
    run_dir = tmp_path / "run"
    for sub in ("key", "bundle", "scripts"):
        (run_dir / sub).mkdir(parents=True)
    key = new_run_key()
    (run_dir / "key" / "run.key").write_bytes(key)
    (run_dir / "key" / "token").write_text("tok")
    made: RunDocument = {
        "runId": "run-1",
        "runName": "run",
        "namespace": "team",
        "packageName": "p",
        "packageId": "pid",
        "params": {},
        "config": {},
        "steps": ["a.py"],
        "files": ["a.py"],
        "maskSecrets": True,
        "secretsInArgv": True,
        "secretsVersion": 1,
    }
    document = json.dumps(made)
    files = {"run.json": document, "script.0": script}
    (run_dir / "bundle" / "bundle").write_bytes(seal_bundle(key, bundle_uid, {"A": "secret-value"}, files))
    (run_dir / "bundle" / "run.json").write_text(document)
    (run_dir / "scripts" / "a.py").write_text(script)
    env = {
        "PATH": "/usr/bin:/bin",
        "FERRIS_RUN_DIR": str(run_dir),
        "FERRIS_WORK_DIR": str(tmp_path / "work"),
        "FERRIS_RUN_UID": "run-1",
        "FERRIS_API_URL": "http://127.0.0.1:9",
        "FERRIS_API_DEADLINE": "2",
    }
    return run_dir, env


def test_unreachable_runner_api_fails_with_a_reason_instead_of_hanging(tmp_path: Path) -> None:
    _, env = lay_out(tmp_path)
    result = subprocess.run([RUNNER], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 3
    assert "runner API at http://127.0.0.1:9/v1/runs/run-1 unreachable after" in result.stderr


def test_bundle_of_another_run_fails_closed(tmp_path: Path) -> None:
    _, env = lay_out(tmp_path, bundle_uid="another-run")
    result = subprocess.run([RUNNER], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "the run bundle does not open: authentication failed" in result.stderr
    assert not (tmp_path / "work").exists(), "a script ran although the bundle did not open"


def test_missing_run_key_fails_closed(tmp_path: Path) -> None:
    run_dir, env = lay_out(tmp_path)
    (run_dir / "key" / "run.key").unlink()
    result = subprocess.run([RUNNER], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "missing run input" in result.stderr
    assert not (tmp_path / "work").exists(), "a script ran without its run key"


def test_a_replaced_script_beside_the_real_bundle_fails_closed(tmp_path: Path) -> None:
    """A bundle ConfigMap rebuilt around the real sealed bundle with other scripts runs nothing."""
    run_dir, env = lay_out(tmp_path)
    (run_dir / "scripts" / "a.py").write_text("import sys; print(sys.argv[1])")
    result = subprocess.run([RUNNER], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "script.0 is not the file this run was sealed with" in result.stderr
    assert "secret-value" not in result.stderr + result.stdout
    assert not (tmp_path / "work" / "a.py").exists()


def test_a_replaced_run_document_fails_closed(tmp_path: Path) -> None:
    """run.json with masking turned off (or other params) is refused: its digest is sealed."""
    run_dir, env = lay_out(tmp_path)
    document = json.loads((run_dir / "bundle" / "run.json").read_text())
    (run_dir / "bundle" / "run.json").write_text(json.dumps({**document, "maskSecrets": False}))
    result = subprocess.run([RUNNER], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "run.json is not the file this run was sealed with" in result.stderr


def test_sigterm_stops_the_script_and_the_runner_reports_nothing_more(tmp_path: Path) -> None:
    """A stopped pod (cancel, timeout, deletion): the operator says why; the runner must not
    turn it into a verdict of its own."""
    import http.server
    import signal
    import threading
    import time

    seen: list[str] = []

    class FakeRunnerApi(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeRunnerApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _, env = lay_out(tmp_path, script="import time\nprint('started', flush=True)\ntime.sleep(60)\n")
    env["FERRIS_API_URL"] = f"http://127.0.0.1:{server.server_port}"
    try:
        runner = subprocess.Popen([RUNNER], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert runner.stdout is not None
        assert runner.stdout.readline().strip() == "started"
        runner.send_signal(signal.SIGTERM)
        started = time.monotonic()
        _, stderr = runner.communicate(timeout=30)
    finally:
        server.shutdown()
    assert runner.returncode == 143
    assert time.monotonic() - started < 10
    assert "stopped by SIGTERM during step a.py" in stderr
    assert seen == ["/v1/runs/run-1/steps/0"]  # "Running", then nothing: no step end, no finish
