"""A list-then-watch of one kind of object, label-selected by the API server where it can be, in
a thread of its own, handing plain JSON to a callback. For FerrisRuns and the objects a run
makes (Jobs, pods): each run changes two times or more, its Job and pod five times or more, and
kopf's machinery costs milliseconds per event where a JSON line costs a fraction of one (see
docs/architecture.md, "Cost per run").

The watch resumes from the last resourceVersion it saw (bookmarks included); when the API
server answers 410 Gone, or the stream breaks in a way a resume cannot mend, it lists again
and hands every object over again: handlers are level-based."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any, cast

from kubernetes.client.exceptions import ApiException

log = logging.getLogger("ferris.watch")

Handler = Callable[[str | None, dict[str, Any]], None]  # (event type, None when listed; object)
GONE = 410


class Expired(Exception):
    """The resourceVersion is too old to resume from: list again."""


def _lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    pending = b""
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        yield from (line for line in complete if line.strip())
    if pending.strip():
        yield pending


def _socket_of(response: Any) -> socket.socket:
    """The socket under a streamed urllib3 response: its connection's, or (once the connection
    let go of it) the one its body is read from."""
    connection = getattr(response, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is None:
        sock = response._fp.fp.raw._sock  # http.client's buffered reader over socket.SocketIO
    return cast(socket.socket, sock)


class Watch:
    def __init__(
        self,
        name: str,
        list_call: Callable[..., Any],
        label_selector: str | None,
        handle: Handler,
        server_timeout: int = 270,
        page: int = 500,
        retry_seconds: float = 1.0,
        field_selector: str | None = None,
    ) -> None:
        self.name = name
        self.list_call = list_call  # e.g. BatchV1Api.list_job_for_all_namespaces
        # An object that stops matching it arrives as DELETED (the API server filters).
        self.selectors: dict[str, str] = {}
        if label_selector:
            self.selectors["label_selector"] = label_selector
        if field_selector:
            self.selectors["field_selector"] = field_selector
        self.handle = handle
        self.server_timeout = server_timeout
        self.page = page
        self.retry_seconds = retry_seconds
        self._stopping = threading.Event()
        self._relist = threading.Event()
        self._response: Any = None
        self._thread = threading.Thread(target=self._run, name=f"watch-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._close()
        self._thread.join(timeout=10)

    def relist(self) -> None:
        """Hand every object over again (a standby replica that became the active one)."""
        self._relist.set()
        self._close()

    def _close(self) -> None:
        """End the stream now. The socket is shut down first: a read blocked on it returns at
        once, where close() alone would wait for that read (it needs the lock the reading
        thread holds) until the next event or bookmark, a minute or more on a quiet watch."""
        response = self._response
        if response is None:
            return
        with contextlib.suppress(Exception):  # a stream already broken: nothing more to do
            _socket_of(response).shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(Exception):
            response.close()

    def _run(self) -> None:
        version = ""
        while not self._stopping.is_set():
            try:
                if not version or self._relist.is_set():
                    self._relist.clear()
                    version = self._list()
                version = self._watch(version)
            except Expired:
                version = ""
            except Exception as exc:
                if self._stopping.is_set():
                    return
                if not self._relist.is_set():
                    log.warning("watch of %s broke (%s); resuming", self.name, type(exc).__name__)
                    self._stopping.wait(self.retry_seconds)

    def _list(self) -> str:
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {**self.selectors, "limit": self.page}
            if token:
                kwargs["_continue"] = token
            try:
                response = self.list_call(_preload_content=False, **kwargs)
            except ApiException as exc:
                if exc.status == GONE:  # the continue token expired: start the list again
                    token = None
                    continue
                raise
            found = json.loads(response.data)
            for obj in found.get("items") or []:
                self._hand_over(None, obj)
            meta = found.get("metadata") or {}
            token = meta.get("continue")
            if not token:
                return str(meta.get("resourceVersion", ""))

    def _watch(self, version: str) -> str:
        response = self.list_call(
            _preload_content=False,
            watch=True,
            allow_watch_bookmarks=True,
            resource_version=version,
            timeout_seconds=self.server_timeout,
            _request_timeout=(10, self.server_timeout + 30),
            **self.selectors,
        )
        self._response = response
        try:
            for line in _lines(response.stream(65536, decode_content=True)):
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == GONE:
                        raise Expired
                    raise RuntimeError(str(obj.get("message", "watch error")))
                version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                if kind != "BOOKMARK":
                    self._hand_over(kind, obj)
                if self._stopping.is_set() or self._relist.is_set():
                    break
        finally:
            self._response = None
            response.release_conn()
        return version

    def _hand_over(self, kind: str | None, obj: dict[str, Any]) -> None:
        try:
            self.handle(kind, obj)
        except Exception:  # one object's failure never stops the watch
            meta = obj.get("metadata") or {}
            log.exception("%s %s/%s could not be handled", self.name, meta.get("namespace"), meta.get("name"))
