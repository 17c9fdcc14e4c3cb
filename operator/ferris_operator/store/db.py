"""The PostgreSQL connection pool. The URL comes from settings; its password is never logged."""

from __future__ import annotations

import psycopg
import psycopg.conninfo
import psycopg_pool
from psycopg_pool import ConnectionPool

# "The database is unavailable": the one definition. Whoever catches these waits for PostgreSQL
# to return (and reports DatabaseUnavailable) instead of failing the object at hand.
DATABASE_ERRORS = (psycopg.OperationalError, psycopg_pool.PoolTimeout)


# A server that vanishes (its node lost in a failover) resets no connection: without these, a
# query on one waits for the kernel's retransmissions to give up (about 15 minutes) and an idle
# one is found dead only when used. Defaults: a URL that sets any of them keeps its own.
TCP_DEFAULTS = {
    "keepalives": "1",
    "keepalives_idle": "10",  # seconds idle before the first probe
    "keepalives_interval": "5",
    "keepalives_count": "3",
    "tcp_user_timeout": "30000",  # ms that sent data may stay unacknowledged
}


def with_tcp_defaults(url: str) -> str:
    """``url`` as a connection string with the TCP_DEFAULTS it does not set itself."""
    given = psycopg.conninfo.conninfo_to_dict(url)
    return psycopg.conninfo.make_conninfo(url, **{k: v for k, v in TCP_DEFAULTS.items() if k not in given})


def open_pool(
    url: str, max_size: int = 8, min_size: int = 1, timeout: float = 10.0, check: bool = False
) -> ConnectionPool:
    """With ``check``, a connection is tried before it is handed out, and replaced when
    PostgreSQL dropped it (a restart, a failover): one round trip per request, for a server
    that must not answer 503 to the first requests after the database came back."""
    pool = ConnectionPool(
        with_tcp_defaults(url),
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
