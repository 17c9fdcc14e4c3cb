"""The runner as a process, with its inputs laid out as the Job mounts them."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ferris_ciphertext.bundle import new_run_key, seal_bundle
from ferris_wire.runner_api import RunDocument

RUNNER = str(Path(sys.executable).parent / "ferris-runner")


def part_key(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


def lay_out(
    tmp_path: Path,
    bundle_uid: str = "run-1",
    script: str = "print('hello')",
    more: tuple[tuple[str, str], ...] = (),
    first_step: int = 0,
    assets: tuple[tuple[str, str], ...] = (),
    secrets: dict[str, Any] | None = None,
    document: dict[str, Any] | None = None,
) -> tuple[Path, dict[str, str]]:
    """The run's mounts: a.py (``script``), then the ``more`` scripts, as steps in that order;
    ``assets``: files beside them that are no step; ``secrets`` (default ``A``: secret-value)
    sealed; ``document``: more fields of run.json."""
    steps = [("a.py", script), *more]
    scripts = [*steps, *assets]
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
        "steps": [name for name, _ in steps],
        "files": [name for name, _ in scripts],
        "contentKeys": [[part_key(content)] for _, content in scripts],
        "maskSecrets": True,
        "secretsInArgv": True,
        "secretsVersion": 1,
    }
    if first_step:
        made["firstStep"] = first_step
    text = json.dumps({**made, **(document or {})})
    files = {"run.json": text, **{f"script.{i}": content for i, (_, content) in enumerate(scripts)}}
    sealed = seal_bundle(key, bundle_uid, {"A": "secret-value"} if secrets is None else secrets, files)
    (run_dir / "bundle" / "bundle").write_bytes(sealed)
    (run_dir / "bundle" / "run.json").write_text(text)
    for _, content in scripts:  # as the Job mounts the content objects: each part under its key
        (run_dir / "scripts" / part_key(content)).write_text(content)
    env = {
        "PATH": "/usr/bin:/bin",
        "FERRIS_RUN_DIR": str(run_dir),
        "FERRIS_WORK_DIR": str(tmp_path / "work"),
        "FERRIS_RUN_UID": "run-1",
        "FERRIS_API_URL": "http://127.0.0.1:9",
        "FERRIS_API_DEADLINE": "2",
    }
    return run_dir, env


@contextlib.contextmanager
def runner_api() -> Iterator[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    """A runner API on loopback that answers every POST with {} and records (path, body)."""
    reports: list[tuple[str, dict[str, Any]]] = []

    class Recording(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            reports.append((self.path, json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recording)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", reports
    finally:
        server.shutdown()


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
    (run_dir / "scripts" / part_key("print('hello')")).write_text("import sys; print(sys.argv[1])")
    result = subprocess.run([RUNNER], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "ContentDigestMismatch: a.py (script.0) is not the content this run was sealed with" in result.stderr
    assert "secret-value" not in result.stderr + result.stdout
    assert not (tmp_path / "work" / "a.py").exists()


def test_a_file_of_several_parts_is_joined_and_a_changed_part_fails_closed(tmp_path: Path) -> None:
    """A file of several parts (each under its key) is joined before its sealed digest is checked."""
    asset = bytes(range(256)) * 5000  # binary, and cut in three
    script = "import hashlib; print(hashlib.sha256(open('blob.bin', 'rb').read()).hexdigest())"
    sizes = (500_000, 500_000, len(asset) - 1_000_000)
    pieces = [asset[sum(sizes[:k]) : sum(sizes[: k + 1])] for k in range(3)]
    keys = [[part_key(script)], [hashlib.sha256(piece).hexdigest() for piece in pieces]]
    run_dir, env = lay_out(tmp_path, script=script, assets=(("blob.bin", ""),), document={"contentKeys": keys})
    key = (run_dir / "key" / "run.key").read_bytes()
    document = (run_dir / "bundle" / "run.json").read_text()
    files = {"run.json": document, "script.0": script, "script.1": asset}
    (run_dir / "bundle" / "bundle").write_bytes(seal_bundle(key, "run-1", {}, files))
    for key, piece in zip(keys[1], pieces, strict=True):
        (run_dir / "scripts" / key).write_bytes(piece)
    with runner_api() as (url, reports):
        env["FERRIS_API_URL"] = url
        done = subprocess.run([RUNNER], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert hashlib.sha256(asset).hexdigest() in json.dumps(reports)
    (run_dir / "scripts" / keys[1][2]).write_bytes(b"changed")
    result = subprocess.run([RUNNER], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "ContentDigestMismatch: blob.bin (script.1) is not the content this run was sealed with" in result.stderr


def test_a_replaced_run_document_fails_closed(tmp_path: Path) -> None:
    """run.json with masking turned off (or other params) is refused: its digest is sealed."""
    run_dir, env = lay_out(tmp_path)
    document = json.loads((run_dir / "bundle" / "run.json").read_text())
    (run_dir / "bundle" / "run.json").write_text(json.dumps({**document, "maskSecrets": False}))
    result = subprocess.run([RUNNER], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "run.json is not the file this run was sealed with" in result.stderr


def test_sigterm_stops_the_script_and_the_runner_reports_nothing_more(tmp_path: Path) -> None:
    _, env = lay_out(tmp_path, script="import time\nprint('started', flush=True)\ntime.sleep(60)\n")
    with runner_api() as (url, reports):
        env["FERRIS_API_URL"] = url
        runner = subprocess.Popen([RUNNER], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert runner.stdout is not None
        assert runner.stdout.readline().strip() == "started"
        runner.send_signal(signal.SIGTERM)
        started = time.monotonic()
        _, stderr = runner.communicate(timeout=30)
    assert runner.returncode == 143
    assert time.monotonic() - started < 10
    assert "stopped by SIGTERM during step a.py" in stderr
    steps = [path for path, _ in reports if not path.endswith("/chunks")]
    assert steps == ["/v1/runs/run-1/steps/0"]  # "Running", then nothing: no end, no finish


def test_a_rerun_from_a_step_reports_the_steps_before_it_skipped_and_runs_the_rest(tmp_path: Path) -> None:
    more = (("b.py", "print('b ran')"), ("c.py", "print('c ran')"))
    _, env = lay_out(tmp_path, script="raise SystemExit('a must not run again')", more=more, first_step=1)
    with runner_api() as (url, reports):
        env["FERRIS_API_URL"] = url
        done = subprocess.run([RUNNER], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    phases = [(path.rsplit("/", 1)[-1], body.get("phase")) for path, body in reports if "/steps/" in path]
    assert phases == [("0", "Skipped"), ("1", "Running"), ("1", "Succeeded"), ("2", "Running"), ("2", "Succeeded")]
    verdict = next(body for path, body in reports if path.endswith("/finish"))
    assert verdict == {"succeeded": True, "message": "steps 2-3 succeeded (2 of 3: a rerun from step 2)"}


LIVE_SCRIPT = """
import time
print("one", flush=True)
time.sleep(2.5)
print("secr", end="", flush=True)  # a secret printed in two pieces, a second and a half apart
time.sleep(1.5)
print("et-value and two", flush=True)
time.sleep(1.5)
"""


def test_a_running_steps_lines_go_live_in_order_masked_and_its_report_keeps_the_same(tmp_path: Path) -> None:
    _, env = lay_out(tmp_path, script=LIVE_SCRIPT)
    with runner_api() as (url, reports):
        env["FERRIS_API_URL"] = url
        done = subprocess.run([RUNNER], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    chunks = [(i, body) for i, (path, body) in enumerate(reports) if path == "/v1/runs/run-1/steps/0/chunks"]
    end = next(i for i, (path, body) in enumerate(reports) if body.get("phase") == "Succeeded")
    assert len(chunks) >= 2 and chunks[0][0] < end and chunks[0][1] == {"offset": 0, "text": "one\n"}
    offset = 0
    for _, body in chunks:  # each starts where the one before ended: nothing twice, nothing left out
        assert body["offset"] == offset
        offset += len(body["text"])
    live = "".join(body["text"] for _, body in chunks)
    assert live == reports[end][1]["output"] == "one\n**** and two\n"
    assert "secret-value" not in json.dumps(reports) and "secr" not in live


def test_templates_are_rendered_before_the_steps_and_a_broken_one_fails_the_first_step(tmp_path: Path) -> None:
    good = (("query.sql.jinja", "SELECT {{ package_name }};\n"),)
    _, env = lay_out(tmp_path / "good", script="print(open('query.sql').read(), end='')", assets=good)
    with runner_api() as (url, reports):
        env["FERRIS_API_URL"] = url
        done = subprocess.run([RUNNER], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert next(body for path, body in reports if body.get("phase") == "Succeeded")["output"] == "SELECT p;\n"
    broken = (("query.sql.jinja", "SELECT\n{{ secrets.A }};\n"),)
    _, env = lay_out(tmp_path / "broken", script="print('must not run')", assets=broken)
    with runner_api() as (url, reports):
        env["FERRIS_API_URL"] = url
        done = subprocess.run([RUNNER], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "query.sql.jinja line 2: 'secrets' is undefined" in done.stderr
    failed = [body for path, body in reports if body.get("phase") == "Failed"]
    assert len(failed) == 1 and failed[0]["output"].startswith("query.sql.jinja line 2")
    verdict = next(body for path, body in reports if path.endswith("/finish"))
    assert verdict["succeeded"] is False and "must not run" not in json.dumps(reports) + done.stdout
    assert "secret-value" not in json.dumps(reports) + done.stdout + done.stderr
