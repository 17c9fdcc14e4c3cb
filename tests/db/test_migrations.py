"""Migrations apply from empty, re-run as a no-op, and survive two migrators at once."""

from __future__ import annotations

import threading

import psycopg

from ferris_operator.store.migrations import LATEST, migrate


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {r[0] for r in rows}


def test_migrates_from_empty_then_rerun_applies_nothing(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        assert migrate(conn) == list(range(1, LATEST + 1))
        assert migrate(conn) == []
    assert {"packages", "secrets", "runs", "steps", "package_state", "schema_migrations"} <= tables(database_url)


def test_two_concurrent_migrators_apply_each_migration_once(database_url: str) -> None:
    results: list[list[int]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        try:
            with psycopg.connect(database_url) as conn:
                barrier.wait()
                results.append(migrate(conn))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results, key=len) == [[], list(range(1, LATEST + 1))]
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone() == (LATEST,)
