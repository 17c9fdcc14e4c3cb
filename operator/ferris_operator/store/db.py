"""The PostgreSQL connection pool. The URL comes from settings; its password is never logged."""

from __future__ import annotations

from psycopg_pool import ConnectionPool


def open_pool(url: str, max_size: int = 8, min_size: int = 1, timeout: float = 10.0) -> ConnectionPool:
    pool = ConnectionPool(url, min_size=min_size, max_size=max_size, timeout=timeout, open=False, name="ferris")
    pool.open(wait=False)
    return pool
