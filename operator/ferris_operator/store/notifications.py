"""Hearing what the server stores as it is stored: runners' reports (``ferris_run_reports``)
and events (``ferris_events``), by ``LISTEN`` on a connection of the operator's own, in a
thread.

``heard[channel](payload)`` is called for each notification; ``connected()`` after every
(re)connection, since notifications sent while nobody listened are gone and must be looked for
in the tables. A lost connection is retried with backoff until ``stop()``.

After each (re)connection the listener checks that it hears at all: it NOTIFYs itself through
the URL everything else writes with (``notify_url``) and must hear it within CHECK_SECONDS. A
LISTEN through a transaction-mode pooler (PgBouncer's ``pool_mode = transaction``) never does:
``problem`` then says so, and the operator is not ready until a later check hears its own.

A connection that heard its own check goes on being checked every ``alive_seconds``: after a
failover in which the old primary's node vanished, a LISTEN connection to it is never closed
(no reset comes from a machine that is gone), so it would wait for notifications forever. One
that stops hearing itself is dropped and made again, to whichever server is the primary now."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import psycopg
from psycopg import sql

from ferris_operator.store.db import with_tcp_defaults

log = logging.getLogger("ferris.notifications")
MAX_BACKOFF_SECONDS = 30.0
CHECK_CHANNEL = "ferris_listen_check"
CHECK_SECONDS = 5.0
RECHECK_SECONDS = 60.0  # while a check fails, how often the listener tries again
ALIVE_SECONDS = 30.0  # while checks pass, how often the listener makes sure it still hears


class Listener:
    def __init__(
        self,
        database_url: str,
        heard: Mapping[str, Callable[[str], object]],
        connected: Callable[[], object],
        poll_seconds: float = 1.0,
        notify_url: str | None = None,
        check_seconds: float = CHECK_SECONDS,
        alive_seconds: float = ALIVE_SECONDS,
    ) -> None:
        self._url = database_url
        self._notify_url = notify_url or database_url
        self._heard = heard
        self._connected = connected
        self._poll = poll_seconds
        self._check_seconds = check_seconds
        self._alive_seconds = alive_seconds
        self.problem: str | None = "not listening yet"  # None: it heard its own notification
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
                with psycopg.connect(with_tcp_defaults(self._url), autocommit=True, connect_timeout=5) as conn:
                    for channel in (*self._heard, CHECK_CHANNEL):
                        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    backoff = 1.0
                    self._connected()
                    checked = self._check(conn)
                    heard_itself = self.problem is None
                    while not self._stopping.is_set():
                        for notification in conn.notifies(timeout=self._poll):
                            self._hear(notification.channel, notification.payload)
                        every = RECHECK_SECONDS if self.problem is not None else self._alive_seconds
                        if time.monotonic() - checked > every:
                            checked = self._check(conn)
                            if heard_itself and self.problem is not None:
                                self.problem = "the LISTEN connection stopped hearing: connecting again"
                                log.warning("%s", self.problem)
                                break  # closed on leaving the block; made again at once
                            heard_itself = heard_itself or self.problem is None
            except psycopg.Error as exc:
                self.problem = f"the LISTEN connection failed: {type(exc).__name__}"
                log.warning("listening for reports and events: %s; again in %.0f s", type(exc).__name__, backoff)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    def _hear(self, channel: str, payload: str) -> None:
        if channel in self._heard:
            self._heard[channel](payload)

    def _check(self, conn: psycopg.Connection[Any]) -> float:
        """NOTIFY ourselves through ``notify_url``; ``problem`` None when it is heard in time.
        Other notifications heard meanwhile are passed on. When the check was made."""
        nonce = uuid.uuid4().hex
        with psycopg.connect(self._notify_url, autocommit=True, connect_timeout=5) as other:
            other.execute("SELECT pg_notify(%s, %s)", (CHECK_CHANNEL, nonce))
        deadline = time.monotonic() + self._check_seconds
        heard = False
        while not heard and (left := deadline - time.monotonic()) > 0:
            # Each batch is read to its end (stop_after ends the generator only after a whole batch):
            # leaving psycopg's generator in the middle of one drops the rest of it, a report's
            # notification that came with our own.
            for notification in conn.notifies(timeout=left, stop_after=1):
                if notification.channel == CHECK_CHANNEL and notification.payload == nonce:
                    heard = True
                else:
                    self._hear(notification.channel, notification.payload)
        if heard:
            if self.problem is not None:
                log.info("the LISTEN connection hears notifications")
            self.problem = None
            return time.monotonic()
        self.problem = (
            f"the LISTEN connection did not hear a notification sent through the database URL within"
            f" {self._check_seconds:.0f} s: is it a transaction-mode pooler (PgBouncer pool_mode = transaction"
            " does not carry LISTEN)? Set FERRIS_DATABASE_LISTEN_URL (chart: database.listenUrlKey) to the primary"
            " directly or to a session-mode pooler"
        )
        log.warning("%s", self.problem)
        return time.monotonic()
