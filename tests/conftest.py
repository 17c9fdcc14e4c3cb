"""Shared fixtures: a real PostgreSQL server for the session, a fresh database per test."""

from __future__ import annotations

import contextlib
import getpass
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ferris_devcluster import interrupts
from ferris_devcluster.postgres import LocalPostgres
from tests import workers


def pytest_configure(config: pytest.Config) -> None:
    """SIGTERM (a CI timeout, `kill`) stops the session as Ctrl-C does: pytest then tears every
    fixture down, so no PostgreSQL, control plane or operator outlives it. Under pytest-xdist
    (`make test`), the controller passes it on to its workers (see ``workers``)."""
    if workers.is_controller(config):
        workers.configure_controller()
    else:
        interrupts.install_for_tests()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``long`` first, the rest in their (random) order: a worker that draws a
    long test at the end keeps the whole session waiting for it. Under ``--dist loadgroup`` a
    group goes where its first test is, so one long test of a group brings the group forward
    (the chart's and the container-mode tests each have one)."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    if workers.is_controller(session.config):
        workers.wait_for_teardowns()


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if workers.is_worker(config):
        workers.report_torn_down()
        return
    if workers.is_controller(config):
        workers.forget()
    if config.option.basetemp is None:
        _remove_empty_temp_root()


def _remove_empty_temp_root() -> None:
    """pytest removes each session's folder (tmp_path_retention_policy = "none") but leaves the
    per-user folder above it; when empty (no other session is using it), it goes too."""
    root = Path(os.environ.get("PYTEST_DEBUG_TEMPROOT") or tempfile.gettempdir()) / f"pytest-of-{getpass.getuser()}"
    with contextlib.suppress(OSError):
        root.rmdir()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[LocalPostgres]:
    with LocalPostgres() as server:
        yield server


@pytest.fixture
def database_url(postgres_server: LocalPostgres) -> Iterator[str]:
    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(postgres_server.url_for("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield postgres_server.url_for(name)
    with psycopg.connect(postgres_server.url_for("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
