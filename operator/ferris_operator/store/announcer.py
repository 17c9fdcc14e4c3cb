"""Telling the operator that reports or events were stored: NOTIFY, after the data's own
transaction has committed, at most once per channel per interval.

A transaction that notifies takes a lock shared by the whole database while it commits, so a
NOTIFY in every report's transaction makes concurrent reports commit one at a time. In the
server the stores name what they stored (a run's uid, an event's sequence number) after their
commit, and ``CoalescingAnnouncer`` sends what gathered in an interval (20 ms) as one
notification per channel, from a transaction of its own. (Stores given no announcer, as in the
operator's own process and the tests, notify in their transaction.) A payload lists the items
(``items_of``) or, when they would not fit in PostgreSQL's 8,000 bytes, says "look at
everything" (``EVERYTHING``). A
notification that is lost (the server stops between a commit and its NOTIFY, the listener is
away) costs latency only: the operator looks for unpublished reports and unrouted events on
its own every few seconds."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from psycopg_pool import ConnectionPool

from ferris_operator.store.db import DATABASE_ERRORS

log = logging.getLogger("ferris.announcer")
EVERYTHING = "*"
MAX_PAYLOAD = 7900  # PostgreSQL refuses a payload of 8,000 bytes or more
INTERVAL_SECONDS = 0.02

Announce = Callable[[str, str], None]  # (channel, item): what was stored, after its commit


def payload(items: Iterable[str]) -> str:
    """The items as one payload, comma-separated; EVERYTHING when they would not fit."""
    text = ",".join(sorted(set(items)))
    return text if len(text.encode()) <= MAX_PAYLOAD else EVERYTHING


def items_of(text: str) -> list[str] | None:
    """A payload's items; None: look at everything."""
    if text == EVERYTHING:
        return None
    return [item for item in text.split(",") if item]


class CoalescingAnnouncer:
    """What was stored during an interval, announced in one notification per channel by a
    thread of its own (the server's runner API)."""

    def __init__(self, pool: ConnectionPool, interval: float = INTERVAL_SECONDS) -> None:
        self._pool = pool
        self._interval = interval
        self._pending: dict[str, set[str]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="announcer", daemon=True)
        self.sent = 0  # notifications sent, for the tests and the bench

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=5)
        self._send()  # what came meanwhile

    def announce(self, channel: str, item: str) -> None:
        with self._lock:
            self._pending.setdefault(channel, set()).add(item)
        self._wake.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait()
            self._wake.clear()
            self._stopping.wait(self._interval)  # what the next moments store goes with it
            self._send()

    def _send(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return
        try:
            with self._pool.connection() as conn, conn.transaction():
                for channel, items in sorted(pending.items()):
                    conn.execute("SELECT pg_notify(%s, %s)", (channel, payload(items)))
            self.sent += len(pending)
        except DATABASE_ERRORS as exc:  # stored all the same: the operator's own look finds it
            log.warning("could not announce what was stored (%s); the operator finds it on its own", type(exc).__name__)
