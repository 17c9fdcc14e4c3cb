"""A fresh embedded PostgreSQL with Ferris's schema and a connection pool on it, for the
benchmark stages that measure against a real database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg_pool import ConnectionPool

from ferris_devcluster.postgres import LocalPostgres
from ferris_operator.store.db import open_pool
from ferris_operator.store.migrations import migrate


@contextmanager
def migrated_database(pool_size: int = 4) -> Iterator[tuple[str, ConnectionPool]]:
    """(URL, pool); both gone, and the server stopped, on the way out."""
    with LocalPostgres() as postgres:
        with psycopg.connect(postgres.url) as conn:
            migrate(conn)
        pool = open_pool(postgres.url, max_size=pool_size)
        pool.wait()
        try:
            yield postgres.url, pool
        finally:
            pool.close()
