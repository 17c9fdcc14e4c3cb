"""The operator's and the server's connections through a transaction-mode PgBouncer (Debian's,
1.18: no prepared statements across its server connections): many clients share one server
connection there, so a statement the driver prepares on its own (psycopg does after five runs
of the same query) would meet another client's of the same name. Ferris's pools prepare none."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from ferris_devcluster.pgbouncer import LocalPgBouncer
from ferris_devcluster.postgres import LocalPostgres
from ferris_operator.records import NewRun
from ferris_operator.store.db import open_pool
from ferris_operator.store.migrations import migrate
from ferris_operator.store.runs import RunStore


def test_the_stores_pool_works_through_a_transaction_pooler_with_one_server_connection(
    postgres_server: LocalPostgres, database_url: str
) -> None:
    with psycopg.connect(database_url) as conn:
        migrate(conn)
    database = database_url.rsplit("/", 1)[1]
    with LocalPgBouncer(postgres_server, "transaction", pool_size=1) as bouncer:
        pool = open_pool(bouncer.url_for(database), max_size=4, min_size=4)
        try:
            pool.wait()
            store = RunStore(pool)
            store.record_start(NewRun("uid-pooled", "pooled", "r", "p", "puid", 1, 1, "d", ["a.py"]))

            def read(_: int) -> str:
                record = store.get("uid-pooled")
                assert record is not None
                return record.name

            with ThreadPoolExecutor(4) as threads:  # each of the four connections runs it many times
                assert set(threads.map(read, range(200))) == {"r"}
        finally:
            pool.close()


def test_a_driver_that_prepares_statements_fails_there(postgres_server: LocalPostgres, database_url: str) -> None:
    """What the test above would meet without its pools' setting: the failure is real."""
    database = database_url.rsplit("/", 1)[1]
    with LocalPgBouncer(postgres_server, "transaction", pool_size=1) as bouncer:
        url = bouncer.url_for(database)
        one, two = psycopg.connect(url, autocommit=True), psycopg.connect(url, autocommit=True)
        try:
            with pytest.raises(psycopg.errors.DuplicatePreparedStatement):
                for _ in range(10):
                    for conn in (one, two):
                        conn.execute("SELECT 1 WHERE %s", (True,))
        finally:
            one.close()
            two.close()
