"""A primary and a synchronous streaming replica on loopback, as CloudNativePG runs PostgreSQL
(examples/cloudnative-pg: one synchronous standby), with the failover of a node between them.

Clients reach whichever server is the primary as libpq's multi-host URLs do: ``url`` names both
ports with ``target_session_attrs=read-write`` (CloudNativePG's ``-rw`` Service), ``read_url``
prefers the standby (its ``-ro`` Service). The ports never move: after a promotion the lost
primary's port gets a new standby, copied from the new primary, so the URLs handed out at the
start stay right across any number of failovers.

``promote()`` is the failover: the primary's node is lost (SIGKILL of the server and its
backends), the standby is promoted, a new standby is made in the old one's place. Synchronous
replication (``synchronous_standby_names = '*'``) means a commit a client was told of is on
the standby before the loss, so the promotion loses nothing a client saw committed.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from ferris_devcluster.interrupts import shielded
from ferris_devcluster.postgres import LocalPostgres

SYNC_SECONDS = 60.0


@dataclass(frozen=True)
class Failover:
    """How long each step of one promotion took, in seconds."""

    promoted: float  # from the loss of the primary to the standby accepting writes
    replaced: float  # the new standby copied, started and synchronous


class ReplicatedPostgres:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.primary = LocalPostgres(root / "a")
        self.standby = LocalPostgres(root / "b")
        self.standby.standby_of = self.primary
        self.failovers: list[Failover] = []

    # ---- what clients and tests use, as of LocalPostgres -----------------------------------
    @property
    def user(self) -> str:
        return self.primary.user

    @property
    def database(self) -> str:
        return self.primary.database

    @property
    def bin_dir(self) -> Path:
        return self.primary.bin_dir

    @property
    def pid(self) -> int | None:
        return self.primary.pid

    @property
    def logs(self) -> list[Path]:
        return [self.primary.root / "postgres.log", self.standby.root / "postgres.log"]

    def url_for(self, database: str, attrs: str = "read-write") -> str:
        hosts = ",".join(f"127.0.0.1:{node.port}" for node in sorted((self.primary, self.standby), key=_port))
        return f"postgresql://{self.user}@{hosts}/{database}?target_session_attrs={attrs}&connect_timeout=5"

    @property
    def url(self) -> str:
        return self.url_for(self.database)

    @property
    def read_url(self) -> str:
        return self.url_for(self.database, "prefer-standby")

    # ---- life ----------------------------------------------------------------------------
    def start(self) -> None:
        """Both servers, the standby synchronous (again after ``stop()``)."""
        self.primary.start()
        self.standby.start()
        self._make_synchronous()

    @shielded()
    def stop(self) -> None:
        self.primary.stop()
        self.standby.stop()

    @shielded()
    def destroy(self) -> None:
        self.standby.destroy()
        self.primary.destroy()
        shutil.rmtree(self.root, ignore_errors=True)

    def promote(self) -> Failover:
        """The primary's node is lost; the standby becomes the primary; a new standby takes the
        lost one's port."""
        lost, survivor = self.primary, self.standby
        began = time.monotonic()
        lost.crash()
        with psycopg.connect(survivor.url_for("postgres"), autocommit=True, connect_timeout=5) as conn:
            conn.execute("SELECT pg_promote(wait => true, wait_seconds => 60)")
            # Synchronous commit waits for a standby: none is there until the new one is made.
            conn.execute("ALTER SYSTEM RESET synchronous_standby_names")
            conn.execute("SELECT pg_reload_conf()")
        survivor.standby_of = None
        promoted = time.monotonic()
        replacement = LocalPostgres(lost.root, port=lost.port)
        shutil.rmtree(lost.data_dir)
        replacement.standby_of = survivor
        self.primary, self.standby = survivor, replacement
        replacement.start()
        self._make_synchronous()
        failover = Failover(promoted - began, time.monotonic() - promoted)
        self.failovers.append(failover)
        return failover

    def _make_synchronous(self) -> None:
        with psycopg.connect(self.primary.url_for("postgres"), autocommit=True, connect_timeout=5) as conn:
            conn.execute("ALTER SYSTEM SET synchronous_standby_names = '*'")
            conn.execute("SELECT pg_reload_conf()")
            deadline = time.monotonic() + SYNC_SECONDS
            while conn.execute("SELECT 1 FROM pg_stat_replication WHERE sync_state = 'sync'").fetchone() is None:
                if time.monotonic() > deadline:
                    log = self.standby.root / "postgres.log"
                    raise RuntimeError(f"the standby never became synchronous; see {log}")
                time.sleep(0.1)

    def __enter__(self) -> ReplicatedPostgres:
        try:
            self.start()
        except BaseException:
            self.destroy()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()


def _port(node: LocalPostgres) -> int:
    return node.port
