"""The runner API as an untrusted script would use it, over HTTP, against a real PostgreSQL:
made-up tokens cost no query, bodies are bounded and validated, a run reaches only its own
steps, and package state is encrypted and capped."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import psutil
import psycopg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from psycopg_pool import ConnectionPool

from ferris_operator.crypto.keyring import KeyRing
from ferris_operator.crypto.run_tokens import RunTokens, token_digest
from ferris_operator.kek.secret_ring import ring_providers
from ferris_operator.records import NewRun, RunRecord
from ferris_operator.server.runner_api import RunnerApi
from ferris_operator.server.runner_auth import RunTokenAuthenticator
from ferris_operator.store.events import EventStore
from ferris_operator.store.reports import ReportStore
from ferris_operator.store.runs import RunStore
from ferris_operator.store.vault import MAX_STATE_KEYS, Vault

Request = tuple[str, str, str | None, Any]


class CountingReports(ReportStore):
    def __init__(self, pool: ConnectionPool) -> None:
        super().__init__(pool)
        self.gets = 0

    def get(self, uid: str) -> RunRecord | None:
        self.gets += 1
        return super().get(uid)


class World:
    def __init__(self, pool: ConnectionPool, ring: KeyRing) -> None:
        self.store = RunStore(pool)
        self.reports = CountingReports(pool)
        self.tokens = RunTokens(dict(ring.keys), ring.active_id)
        self.vault = Vault(pool, ring_providers(ring))
        authenticator = RunTokenAuthenticator(self.tokens, self.reports)  # one limiter across exchanges
        self.events = EventStore(pool)
        self.api = RunnerApi(authenticator, self.reports, self.vault, self.events)
        self.package_uid = "pkg-" + uuid.uuid4().hex[:8]
        self.vault.ensure_package("tenant", "pkg", self.package_uid)

    def run(self, steps: tuple[str, ...] = ("a.py", "b.py")) -> tuple[str, str]:
        uid = "run-" + uuid.uuid4().hex[:8]
        token = self.tokens.issue(uid)
        self.store.record_start(
            NewRun(uid, "tenant", uid, "pkg", self.package_uid, 1, 1, token_digest(token), list(steps))
        )
        return uid, token

    def exchange(self, *requests: Request) -> list[tuple[int, str]]:
        return asyncio.run(_exchange(self.api.app(), requests))  # an app serves one event loop


async def _exchange(app: web.Application, requests: tuple[Request, ...]) -> list[tuple[int, str]]:
    async with TestClient(TestServer(app)) as client:
        answers = []
        for method, path, token, body in requests:
            headers = {} if token is None else {"Authorization": f"Bearer {token}"}
            data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
            response = await client.request(method, path, data=data, headers=headers)
            answers.append((response.status, await response.text()))
        return answers


@pytest.fixture
def world(pool: ConnectionPool, ring: KeyRing) -> World:
    return World(pool, ring)


def test_tokens_it_never_issued_cost_no_database_query(world: World) -> None:
    uid, token = world.run()
    _, other_token = world.run()
    forged = token.rsplit(".", 1)[0] + ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    world.reports.gets = 0
    answers = world.exchange(
        *[("GET", f"/v1/runs/{uid}/state", bad, None) for bad in ("wrong", "", forged, other_token, None)]
    )
    assert [status for status, _ in answers] == [401] * 5
    assert world.reports.gets == 0, "a token with no valid MAC reached PostgreSQL"
    assert world.exchange(("GET", f"/v1/runs/{uid}/state", token, None))[0][0] == 200
    assert world.reports.gets == 1


def test_a_source_that_keeps_sending_made_up_tokens_is_slowed_down_but_runners_are_not(world: World) -> None:
    uid, token = world.run()
    answers = world.exchange(*[("GET", f"/v1/runs/{uid}/state", f"made-up-{i}", None) for i in range(30)])
    statuses = [status for status, _ in answers]
    assert statuses[:20] == [401] * 20 and set(statuses[20:]) == {429}
    assert world.exchange(("GET", f"/v1/runs/{uid}/state", token, None))[0][0] == 200


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("steps/0", {"phase": "Bogus"}, "phase must be one of"),
        ("steps/0", {"phase": "Succeeded", "exitCode": "1"}, "exitCode must be an integer"),
        ("steps/0", {"phase": "Succeeded", "exitCode": True}, "exitCode must be an integer"),
        ("steps/0", {"phase": "Succeeded", "output": ["x"]}, "output must be a string"),
        ("steps/0", {"phase": "Running", "startedAt": "yesterday"}, "startedAt must be a time"),
        ("steps/0", [1, 2], "body must be a JSON object"),
        ("steps/0", b"not json", "body is not JSON"),
        ("steps/x", {"phase": "Running"}, "step index 'x' must be a whole number"),
        ("steps/-1", {"phase": "Running"}, "must be a whole number"),
        ("steps/2", {"phase": "Running"}, "step index 2 is not one of this run's steps"),
        ("finish", {"succeeded": "yes"}, "succeeded must be true or false"),
        ("state/a%2Fb", {"value": 1}, "state key 'a/b' must match"),
        ("state/k", {"nope": 1}, 'body must be {"value": ...}'),
        ("steps/0", {"phase": "Running", "output": "a\u0000b"}, "output: holds a NUL character"),
        ("finish", {"succeeded": False, "message": "x\u0000"}, "message: holds a NUL character"),
        ("events", {"type": "t", "data": {"k": "\u0000"}}, "data.k: holds a NUL character"),
        ("state/k", {"value": {"a": "\u0000"}}, "value.a: holds a NUL character"),
    ],
)
def test_every_body_is_validated_and_a_refusal_names_the_field(
    world: World, path: str, body: Any, message: str
) -> None:
    uid, token = world.run()
    method = "PUT" if path.startswith("state") else "POST"
    [(status, text)] = world.exchange((method, f"/v1/runs/{uid}/{path}", token, body))
    assert status == 400, text
    assert message in json.loads(text)["error"]
    record = world.store.get(uid)
    assert record is not None and record.phase == "Pending"  # nothing was stored


def test_a_valid_report_is_stored_and_counted_for_the_operator(world: World) -> None:
    uid, token = world.run()
    report = {"phase": "Succeeded", "exitCode": 0, "startedAt": "2026-01-01T00:00:00Z", "output": "é" * 10}
    assert world.exchange(("POST", f"/v1/runs/{uid}/steps/1", token, report))[0][0] == 200
    step = world.store.steps(uid)[1]
    assert (step.phase, step.exit_code, step.output) == ("Succeeded", 0, "é" * 10)
    record = world.store.get(uid)
    assert record is not None and (record.phase, record.report_seq, record.published_seq) == ("Running", 1, 0)
    assert record.unpublished


def test_a_flood_of_nested_json_is_refused_without_building_it(world: World) -> None:
    """One PUT of 8 MiB of [{},{},...] used to take the operator from 114 to 359 MiB."""
    uid, token = world.run()
    flood = b'{"value": [' + b"{}," * (8 * 1024 * 1024 // 3) + b"{}]}"
    nested_output = b'{"phase": "Succeeded", "output": [' + b"{}," * (1024 * 1024) + b"{}]}"
    process = psutil.Process()
    before = process.memory_info().rss
    answers = world.exchange(
        ("PUT", f"/v1/runs/{uid}/state/k", token, flood),
        ("POST", f"/v1/runs/{uid}/steps/0", token, nested_output),
    )
    grown = (process.memory_info().rss - before) / 2**20
    assert answers[0][0] in (400, 413) and answers[1][0] == 400, answers
    assert "nests more than" in answers[1][1]
    assert grown < 64, f"RSS grew by {grown:.0f} MiB"


def test_package_state_is_capped_in_keys_and_bytes(world: World) -> None:
    uid, token = world.run()
    puts = [("PUT", f"/v1/runs/{uid}/state/k{i}", token, {"value": i}) for i in range(MAX_STATE_KEYS + 1)]
    answers = world.exchange(*puts)
    assert [s for s, _ in answers[:MAX_STATE_KEYS]] == [200] * MAX_STATE_KEYS
    assert answers[-1][0] == 413 and f"at most {MAX_STATE_KEYS} keys" in answers[-1][1]
    # Rewriting an existing key is always allowed; the byte quota counts every key.
    big = "x" * (60 * 1024)
    answers = world.exchange(*[("PUT", f"/v1/runs/{uid}/state/k{i}", token, {"value": big}) for i in range(20)])
    statuses = [s for s, _ in answers]
    assert statuses[:16] == [200] * 16 and statuses[-1] == 413, statuses
    assert "bytes per package" in answers[-1][1]
    too_big = world.exchange(("PUT", f"/v1/runs/{uid}/state/k0", token, {"value": "y" * 70_000}))[0]
    assert too_big[0] == 400 and "over the limit" in too_big[1]


def test_package_state_is_encrypted_at_rest_and_old_plaintext_is_encrypted_on_read(
    world: World, database_url: str
) -> None:
    uid, token = world.run()
    canary = "st4te-canary-" + uuid.uuid4().hex
    assert world.exchange(("PUT", f"/v1/runs/{uid}/state/token", token, {"value": {"t": canary}}))[0][0] == 200
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute("SELECT value, ciphertext FROM package_state").fetchall()
        assert rows and all(value is None and canary.encode() not in bytes(blob) for value, blob in rows)
        # A row written in plaintext by an older version:
        conn.execute(
            "INSERT INTO package_state (package_uid, key, value) VALUES (%s, 'legacy', '\"old-plain\"')",
            (world.package_uid,),
        )
    [(status, text)] = world.exchange(("GET", f"/v1/runs/{uid}/state", token, None))
    assert status == 200 and json.loads(text) == {"token": {"t": canary}, "legacy": "old-plain"}
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM package_state WHERE value IS NOT NULL").fetchone() == (0,)


def test_state_rows_cannot_be_moved_between_keys(world: World, database_url: str) -> None:
    uid, token = world.run()
    world.exchange(
        ("PUT", f"/v1/runs/{uid}/state/a", token, {"value": "A"}),
        ("PUT", f"/v1/runs/{uid}/state/b", token, {"value": "B"}),
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE package_state SET ciphertext = (SELECT ciphertext FROM package_state WHERE key = 'a')"
            " WHERE key = 'b'"
        )
    [(status, text)] = world.exchange(("GET", f"/v1/runs/{uid}/state", token, None))
    assert status == 500 and "stored package state does not decrypt (TamperedCiphertext)" in text


def test_a_run_may_send_100_events_by_default_and_the_101st_is_429_naming_the_limit(world: World) -> None:
    assert world.api.max_events_per_run == 100  # the default the chart and the operator use
    uid, token = world.run()
    path = f"/v1/runs/{uid}/events"
    sent = [("POST", path, token, {"id": f"e-{i}", "type": "com.example.tick", "data": {"i": i}}) for i in range(101)]
    answers = world.exchange(*sent)
    assert all(status in (200, 201, 202) for status, _ in answers[:100]), answers[:3]
    status, text = answers[100]
    assert status == 429 and "at most 100 events" in text and "FERRIS_MAX_EVENTS_PER_RUN" in text
    assert world.events.sent_by_count(f"run/{uid}") == 100
