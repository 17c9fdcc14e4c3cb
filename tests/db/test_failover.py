"""A failover of PostgreSQL under Ferris's stores: a primary and a synchronous standby
(devcluster/replicated.py), the primary's node lost and the standby promoted. What a client was
told is committed survives; the multi-host URLs reach the new primary; the server's pool hands
out a working connection at once; the operator's listener connects again and hears the reports
stored after the promotion, and drops a connection to a server that vanished without closing it."""

from __future__ import annotations

import signal
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import psycopg.conninfo
import pytest

from ferris_devcluster.replicated import ReplicatedPostgres
from ferris_operator import model
from ferris_operator.store.db import TCP_DEFAULTS, open_pool, with_tcp_defaults
from ferris_operator.store.migrations import migrate
from ferris_operator.store.notifications import Listener
from ferris_operator.store.reports import CHANNEL, ReportStore
from ferris_operator.store.runs import RunStore
from tests.db.test_reports import new_run, step, wait_for


@pytest.fixture
def pair() -> Iterator[ReplicatedPostgres]:
    root = Path(tempfile.mkdtemp(prefix="ferris-pair-"))
    root.chmod(0o755)  # PostgreSQL runs unprivileged below it
    with ReplicatedPostgres(root / "pg") as servers:
        with psycopg.connect(servers.url) as conn:
            migrate(conn)
        yield servers
    root.rmdir()


def server_of(url: str) -> tuple[int, bool]:
    """The port of the server a URL reaches, and whether it is a standby."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT inet_server_port(), pg_is_in_recovery()").fetchone()
    assert row is not None
    return int(row[0]), bool(row[1])


def test_what_was_committed_survives_each_promotion_and_the_urls_follow_the_primary(pair: ReplicatedPostgres) -> None:
    first = pair.primary.port
    runs = RunStore(pool := open_pool(pair.url, check=True))
    try:
        pool.wait()
        before = new_run(runs)
        assert server_of(pair.url) == (first, False)
        assert server_of(pair.read_url) == (pair.standby.port, True)
        pair.promote()
        assert server_of(pair.url) == (pair.primary.port, False) and pair.primary.port != first
        assert runs.get(before) is not None, "a run recorded before the loss is gone"
        after = new_run(runs)  # the pool's first connection after the loss works: it checks them
        pair.promote()  # and back: the lost port has a standby again
        assert server_of(pair.url) == (first, False)
        assert runs.get(before) is not None and runs.get(after) is not None
    finally:
        pool.close()


def test_a_commit_is_acknowledged_only_once_the_standby_has_it(pair: ReplicatedPostgres) -> None:
    """Why nothing acknowledged is lost: with the standby's WAL receiver stopped, a commit waits."""
    assert pair.standby.pid is not None
    [receiver] = [p for p in psutil.Process(pair.standby.pid).children() if "walreceiver" in " ".join(p.cmdline())]
    done = threading.Event()

    def commit() -> None:
        with psycopg.connect(pair.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE acknowledged (x int)")
        done.set()

    receiver.send_signal(signal.SIGSTOP)
    try:
        writer = threading.Thread(target=commit)
        writer.start()
        assert not done.wait(2), "a commit was acknowledged that the standby did not have"
    finally:
        receiver.send_signal(signal.SIGCONT)
    assert done.wait(10)
    writer.join()


def test_the_listener_connects_again_and_hears_reports_stored_after_a_promotion(pair: ReplicatedPostgres) -> None:
    pool = open_pool(pair.url, check=True)
    runs, reports = RunStore(pool), ReportStore(pool)
    heard: list[str] = []
    connections = threading.Semaphore(0)
    listener = Listener(pair.url, {CHANNEL: heard.append}, connections.release, poll_seconds=0.2)
    listener.start()
    try:
        pool.wait()
        assert connections.acquire(timeout=10), "the listener never connected"
        first = new_run(runs)
        step(reports, first, 0, model.STEP_RUNNING)
        wait_for(lambda: first in heard, 15)
        pair.promote()
        assert connections.acquire(timeout=30), "the listener did not connect to the new primary"
        second = new_run(runs)
        step(reports, second, 0, model.STEP_RUNNING)
        wait_for(lambda: second in heard, 15)
        wait_for(lambda: listener.problem is None, 15)  # and it hears itself through the new primary
    finally:
        listener.stop()
        pool.close()


class VanishingRoute:
    """A TCP hop to PostgreSQL whose connections can be made to vanish: ``vanish()`` makes every
    connection open so far carry nothing more, either way, and never close, as a connection to a
    node that is gone does; connections made afterwards reach the server as before."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.generation = 0
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            self.sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink, self.generation), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, generation: int) -> None:
        while data := _received(source):
            if generation == self.generation:  # a vanished connection's bytes go nowhere
                try:
                    sink.sendall(data)
                except OSError:  # the other side closed, or the route did on teardown
                    return

    def vanish(self) -> None:
        self.generation += 1

    def close(self) -> None:
        for each in (self.listener, *self.sockets):
            each.close()


def _received(source: socket.socket) -> bytes:
    try:
        return source.recv(65536)
    except OSError:
        return b""


def test_a_listen_connection_to_a_vanished_server_is_dropped_and_made_again(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        migrate(conn)
    direct = psycopg.conninfo.conninfo_to_dict(database_url)
    route = VanishingRoute(int(direct["port"]))
    routed = psycopg.conninfo.make_conninfo(database_url, port=str(route.port))
    pool = open_pool(database_url)
    runs, reports = RunStore(pool), ReportStore(pool)
    heard: list[str] = []
    connections = threading.Semaphore(0)
    listener = Listener(
        routed, {CHANNEL: heard.append}, connections.release, 0.2, database_url, check_seconds=1, alive_seconds=2
    )
    listener.start()
    try:
        pool.wait()
        assert connections.acquire(timeout=10), "the listener never connected"
        wait_for(lambda: listener.problem is None, 15)
        route.vanish()
        assert connections.acquire(timeout=15), "the listener kept a connection that hears nothing"
        uid = new_run(runs)
        step(reports, uid, 0, model.STEP_RUNNING)
        wait_for(lambda: uid in heard, 15)
    finally:
        listener.stop()
        pool.close()
        route.close()


def test_every_connection_gives_up_on_a_vanished_server_and_a_url_may_say_otherwise(database_url: str) -> None:
    """Without these a query on a connection to a vanished server waits about 15 minutes."""
    pool = open_pool(database_url)
    try:
        with pool.connection() as conn:
            used = conn.info.get_parameters()
    finally:
        pool.close()
    assert {key: used.get(key) for key in TCP_DEFAULTS} == TCP_DEFAULTS
    own = psycopg.conninfo.conninfo_to_dict(with_tcp_defaults(database_url + "?tcp_user_timeout=5000"))
    assert own["tcp_user_timeout"] == "5000" and own["keepalives_idle"] == TCP_DEFAULTS["keepalives_idle"]
