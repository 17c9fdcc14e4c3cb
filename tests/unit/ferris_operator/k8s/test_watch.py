"""The list-then-watch of runs' Jobs and pods (k8s/watch.py) against a scripted API: pages
listed, events handed over, resumed from the last resourceVersion, listed again after 410."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import urllib3

from ferris_operator.k8s.watch import Watch


def obj(name: str, version: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "a", "resourceVersion": version}}


class Response:
    def __init__(self, data: bytes = b"", chunks: list[bytes] | None = None, hold: bool = False) -> None:
        self.data = data
        self.chunks = chunks or []
        self.closed = threading.Event()
        self.hold = hold  # a quiet watch: nothing comes until the stream is closed

    def stream(self, size: int, decode_content: bool = True) -> Any:
        yield from self.chunks
        if self.hold:
            self.closed.wait(5)

    def close(self) -> None:
        self.closed.set()

    def release_conn(self) -> None:
        pass


def line(kind: str, o: dict[str, Any]) -> bytes:
    return json.dumps({"type": kind, "object": o}).encode() + b"\n"


class ScriptedApi:
    """Two pages of list, a watch that ends with 410, a second list, then nothing more."""

    def __init__(self, done: threading.Event) -> None:
        self.calls: list[dict[str, Any]] = []
        self.done = done
        self.lists = 0

    def __call__(self, **kwargs: Any) -> Response:
        self.calls.append(kwargs)
        assert kwargs["label_selector"] == "ferris.io/run-uid" and kwargs["_preload_content"] is False
        if not kwargs.get("watch"):
            self.lists += 1
            if self.lists == 1 and not kwargs.get("_continue"):
                return Response(json.dumps({"items": [obj("j1", "5")], "metadata": {"continue": "t"}}).encode())
            return Response(json.dumps({"items": [obj("j2", "7")], "metadata": {"resourceVersion": "9"}}).encode())
        if kwargs["resource_version"] == "9" and self.lists == 2:
            first, rest = line("MODIFIED", obj("j1", "10")), line("BOOKMARK", obj("", "12"))
            return Response(chunks=[first[:7], first[7:] + rest[:3], rest[3:]])  # lines split across chunks
        if kwargs["resource_version"] == "12":
            return Response(chunks=[json.dumps({"type": "ERROR", "object": {"code": 410}}).encode()])
        self.done.set()
        return Response(hold=True)


def test_listed_then_watched_resumed_and_listed_again_after_gone() -> None:
    done = threading.Event()
    api = ScriptedApi(done)
    seen: list[tuple[str | None, str]] = []
    watch = Watch("Jobs", api, "ferris.io/run-uid", lambda kind, o: seen.append((kind, o["metadata"]["name"])))
    watch.start()
    assert done.wait(5)
    watch.stop()
    assert seen[:4] == [(None, "j1"), (None, "j2"), ("MODIFIED", "j1"), (None, "j2")]
    versions = [c.get("resource_version") for c in api.calls if c.get("watch")]
    assert versions[:3] == ["9", "12", "9"]  # resumed after the bookmark; after 410, from the new list


def test_a_handler_that_fails_does_not_stop_the_watch() -> None:
    done = threading.Event()
    api = ScriptedApi(done)
    seen: list[str] = []

    def handle(kind: str | None, o: dict[str, Any]) -> None:
        seen.append(o["metadata"]["name"])
        raise RuntimeError("boom")

    watch = Watch("Jobs", api, "ferris.io/run-uid", handle)
    watch.start()
    assert done.wait(5)
    watch.stop()
    assert seen[:3] == ["j1", "j2", "j1"]


def test_a_field_selector_goes_with_every_list_and_watch() -> None:
    done = threading.Event()
    api = ScriptedApi(done)
    watch = Watch("pods", api, "ferris.io/run-uid", lambda kind, o: None, field_selector="status.phase=Pending")
    watch.start()
    assert done.wait(5)
    watch.stop()
    assert {c.get("field_selector") for c in api.calls} == {"status.phase=Pending"}
    assert any(c.get("watch") for c in api.calls) and any(not c.get("watch") for c in api.calls)


class QuietWatchServer:
    """A real socket that answers a watch with one event, then nothing until the test ends (a
    watch whose objects do not change)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.release = threading.Event()
        self.watching = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        connection, _ = self.listener.accept()
        with connection:
            connection.recv(65536)
            event = line("ADDED", obj("p1", "3"))
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            connection.sendall(head + b"%x\r\n" % len(event) + event + b"\r\n")
            self.watching.set()
            self.release.wait(30)

    def close(self) -> None:
        self.release.set()
        self.listener.close()


def test_stop_ends_a_quiet_watch_at_once_not_at_its_next_event() -> None:
    server = QuietWatchServer()
    pool = urllib3.PoolManager()
    seen = threading.Event()

    def list_call(**kwargs: Any) -> Any:
        if not kwargs.get("watch"):
            return Response(json.dumps({"items": [], "metadata": {"resourceVersion": "1"}}).encode())
        return pool.request("GET", f"http://127.0.0.1:{server.port}/pods?watch=1", preload_content=False)

    watch = Watch("pods", list_call, "ferris.io/run-uid", lambda kind, o: seen.set())
    try:
        watch.start()
        assert seen.wait(5) and server.watching.wait(5)
        started = time.monotonic()
        watch.stop()
        assert time.monotonic() - started < 5  # the server would hold the stream for 30 s
        assert not watch._thread.is_alive()
    finally:
        server.close()
