"""Ferris behind Debian's PgBouncer, as behind a cloud database's pooler or CloudNativePG's
Pooler: with everything through a transaction-mode pooler the operator is not ready and says why
(LISTEN hears nothing there); with its LISTEN URL on a session-mode pooler and everything else,
the server's too, through the transaction-mode one, runs start, report and end as ever."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ferris_devcluster.pgbouncer import LocalPgBouncer

from .conftest import Ferris

pytestmark = pytest.mark.cluster


@contextmanager
def restarted_with(ferris: Ferris, env: dict[str, str]) -> Iterator[None]:
    """The operator and the server started again with ``env``; as they were afterwards, whatever
    happens."""
    stack = ferris.stack
    saved = dict(stack.operator_env)
    try:
        stack.stop_server()
        stack.stop_operator()
        stack.operator_env.update(env)
        stack.start_operator()
        stack.start_server()
        yield
    finally:
        stack.stop_server()
        stack.stop_operator()
        stack.operator_env.clear()
        stack.operator_env.update(saved)
        stack.start_operator()
        stack.start_server()


def logins(bouncer: LocalPgBouncer) -> int:
    log = Path(bouncer.root / "pgbouncer.log")
    return len(re.findall(r"login attempt", log.read_text())) if log.exists() else 0


def test_listen_through_a_transaction_pooler_is_caught_and_the_right_urls_work_through_poolers(
    ferris: Ferris, ns: str
) -> None:
    stack = ferris.stack
    with (
        LocalPgBouncer(stack.postgres, "transaction") as transaction,
        LocalPgBouncer(stack.postgres, "session") as session,
    ):
        stack.stop_operator()
        try:
            with pytest.raises(RuntimeError, match="did not become ready") as caught:
                stack.start_operator(timeout=20, env={"FERRIS_DATABASE_URL": transaction.url})
            message = str(caught.value)
            assert "transaction-mode pooler" in message and "FERRIS_DATABASE_LISTEN_URL" in message, message
        finally:
            stack.start_operator()
        pooled = {"FERRIS_DATABASE_URL": transaction.url, "FERRIS_DATABASE_LISTEN_URL": session.url}
        with restarted_with(ferris, pooled):
            ferris.package(ns, "pooled", "import sys, json\nprint('ran', json.loads(sys.argv[1])['count'])\n")
            ferris.wait_condition(ns, "ferrispackage", "pooled", "Ready")
            runs = [ferris.create_run(ns, "pooled", params={"count": n}) for n in range(12)]
            for n, run in enumerate(runs):
                body = ferris.wait_run(ns, run, timeout=180)
                assert body["status"]["phase"] == "Succeeded", body["status"]["steps"]
                assert body["status"]["steps"][0]["outputTail"] == f"ran {n}\n"
            assert logins(transaction) > 0 and logins(session) > 0  # both poolers were used
