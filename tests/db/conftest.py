from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from ferris_operator.crypto.keyring import KeyRing
from ferris_operator.store.db import open_pool
from ferris_operator.store.migrations import migrate


@pytest.fixture
def pool(database_url: str) -> Iterator[ConnectionPool]:
    with psycopg.connect(database_url) as conn:
        migrate(conn)
    pool = open_pool(database_url, max_size=4)
    pool.wait()
    yield pool
    pool.close()


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing({"k1": b"\x11" * 32, "k2": b"\x22" * 32}, "k1")
