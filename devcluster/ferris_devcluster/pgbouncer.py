"""Debian's PgBouncer in front of a LocalPostgres, on loopback, in one pool mode (``transaction``
or ``session``): the pooler a cloud database or CloudNativePG's ``Pooler`` puts between Ferris
and PostgreSQL. Installed by ``make poolers`` (apt); run unprivileged when started as root,
as PostgreSQL is (PgBouncer refuses root). A context manager: stopped and its folder removed on
every exit path."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from ferris_devcluster.interrupts import shielded
from ferris_devcluster.ports import free_port
from ferris_devcluster.postgres import UNPRIVILEGED_USER, LocalPostgres

BINARY = "/usr/sbin/pgbouncer"


class LocalPgBouncer:
    def __init__(self, postgres: LocalPostgres, mode: str, pool_size: int = 20) -> None:
        if mode not in ("transaction", "session"):
            raise ValueError(f"pool mode {mode!r}: transaction or session")
        self.postgres, self.mode, self.pool_size = postgres, mode, pool_size
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix=f"ferris-pgbouncer-{mode}-"))
        self._run_as = UNPRIVILEGED_USER if os.geteuid() == 0 else None
        self._process: subprocess.Popen[bytes] | None = None

    def url_for(self, database: str) -> str:
        return f"postgresql://{self.postgres.user}@127.0.0.1:{self.port}/{database}"

    @property
    def url(self) -> str:
        return self.url_for(self.postgres.database)

    def _write_config(self) -> Path:
        users = self.root / "userlist.txt"
        users.write_text(f'"{self.postgres.user}" ""\n')
        config = self.root / "pgbouncer.ini"
        config.write_text(
            "[databases]\n"
            f"* = host=127.0.0.1 port={self.postgres.port}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {users}\n"
            f"pool_mode = {self.mode}\nmax_client_conn = 500\ndefault_pool_size = {self.pool_size}\n"
            f"logfile = {self.root / 'pgbouncer.log'}\npidfile =\n"
            "ignore_startup_parameters = extra_float_digits,options\n"
        )
        self.root.chmod(0o755)
        if self._run_as:
            entry = pwd.getpwnam(self._run_as)
            for path in (self.root, users, config):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        return config

    def start(self, timeout: float = 15.0) -> None:
        if not Path(BINARY).exists():
            raise RuntimeError(f"{BINARY} is missing: make poolers installs Debian's pgbouncer")
        self._process = subprocess.Popen(
            [BINARY, str(self._write_config())],
            user=self._run_as,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"PgBouncer did not start; see {self.root / 'pgbouncer.log'}") from None
                time.sleep(0.1)

    @shielded()
    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)  # immediate shutdown: clients may still hold connections
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalPgBouncer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
