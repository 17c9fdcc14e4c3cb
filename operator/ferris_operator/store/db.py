"""The PostgreSQL connection pool. The URL comes from settings; its password is never logged."""

from __future__ import annotations

import psycopg
import psycopg_pool
from psycopg_pool import ConnectionPool

# "The database is unavailable": the one definition. Whoever catches these waits for PostgreSQL
# to return (and reports DatabaseUnavailable) instead of failing the object at hand.
DATABASE_ERRORS = (psycopg.OperationalError, psycopg_pool.PoolTimeout)


def open_pool(
    url: str, max_size: int = 8, min_size: int = 1, timeout: float = 10.0, check: bool = False
) -> ConnectionPool:
    """With ``check``, a connection is tried before it is handed out, and replaced when
    PostgreSQL dropped it (a restart, a failover): one round trip per request, for a server
    that must not answer 503 to the first requests after the database came back."""
    pool = ConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        timeout=timeout,
        open=False,
        name="ferris",
        check=ConnectionPool.check_connection if check else None,
        # No statement prepared by the driver (psycopg does after five runs of a query): behind a
        # transaction-mode pooler (PgBouncer before 1.21) clients share server connections, and
        # one client's prepared statement meets another's of the same name (tests/db/test_poolers.py).
        kwargs={"prepare_threshold": None},
    )
    pool.open(wait=False)
    return pool
