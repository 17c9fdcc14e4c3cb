"""How the runner's client takes the runner API's answers: a refusal that waiting cannot change
(400, 409, 413) reaches the script at once with the server's words; only what may pass by
itself is tried again until the deadline."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import time
from collections.abc import Iterator

import pytest

from ferris_runner.api_client import RunnerApiClient, RunnerApiError


@contextlib.contextmanager
def answering(status: int, error: str) -> Iterator[tuple[str, list[str]]]:
    calls: list[str] = []

    class Refusing(http.server.BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            calls.append(self.path)
            body = json.dumps({"error": error}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", calls
    finally:
        server.shutdown()


@pytest.mark.parametrize(
    ("status", "error"),
    [(413, "the package's state would pass its quota of 1 MiB"), (409, "the run has ended")],
)
def test_a_refusal_that_waiting_cannot_change_reaches_the_script_at_once(status: int, error: str) -> None:
    with answering(status, error) as (url, calls):
        client = RunnerApiClient(url, "run-1", "token", deadline_seconds=30)
        started = time.monotonic()
        with pytest.raises(RunnerApiError, match=f"HTTP {status}: {error}"):
            client.state_put("k", "v")
    assert time.monotonic() - started < 5 and len(calls) == 1
