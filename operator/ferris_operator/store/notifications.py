"""Hearing what the server stores as it is stored: runners' reports (``ferris_run_reports``)
and events (``ferris_events``), by ``LISTEN`` on a connection of the operator's own, in a
thread.

``heard[channel](payload)`` is called for each notification; ``connected()`` after every
(re)connection, since notifications sent while nobody listened are gone and must be looked for
in the tables. A lost connection is retried with backoff until ``stop()``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

import psycopg
from psycopg import sql

log = logging.getLogger("ferris.notifications")
MAX_BACKOFF_SECONDS = 30.0


class Listener:
    def __init__(
        self,
        database_url: str,
        heard: Mapping[str, Callable[[str], object]],
        connected: Callable[[], object],
        poll_seconds: float = 1.0,
    ) -> None:
        self._url = database_url
        self._heard = heard
        self._connected = connected
        self._poll = poll_seconds
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="listener", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=self._poll + 5)

    def _listen(self) -> None:
        backoff = 1.0
        while not self._stopping.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, connect_timeout=5) as conn:
                    for channel in self._heard:
                        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    backoff = 1.0
                    self._connected()
                    while not self._stopping.is_set():
                        for notification in conn.notifies(timeout=self._poll):
                            self._heard[notification.channel](notification.payload)
            except psycopg.Error as exc:
                log.warning("listening for reports and events: %s; again in %.0f s", type(exc).__name__, backoff)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
