"""The runner API's routes (in the server) without a database: who may call (401), what exists (404), what a
body must be (400, never a 500), and a database that is down (503)."""

from __future__ import annotations

import asyncio
import datetime
import json
from typing import Any

import psycopg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from ferris_operator import model
from ferris_operator.crypto.run_tokens import RunTokens, token_digest
from ferris_operator.problems import ChunkRefused, OutputRefused, RetryLimit
from ferris_operator.records import RunRecord
from ferris_operator.server.runner_api import RunnerApi
from ferris_operator.server.runner_auth import RunTokenAuthenticator
from tests.unit.ferris_operator.fakes import RING

TOKENS = RunTokens(dict(RING.keys), RING.active_id)
TOKEN = TOKENS.issue("u1")


class FakeService:
    """What the runner API stores through (``ReportPort``): steps 0 and 1 exist."""

    def __init__(self, down: bool = False) -> None:
        self.down = down
        self.steps: list[tuple[str, int, str, bool]] = []
        self.verdicts: list[tuple[str, bool, str]] = []
        self.retries: list[tuple[str, datetime.datetime, dict[str, Any]]] = []
        self.outputs: dict[str, Any] = {}
        self.live: dict[int, str] = {}  # a running step's output, as chunks made it

    def get(self, uid: str) -> RunRecord | None:
        if self.down:
            raise psycopg.OperationalError("connection refused")
        now = datetime.datetime.now(datetime.UTC)
        return RunRecord(
            uid, "team", "r", "p", "puid", 1, 1, model.RUNNING, None, None, token_digest(TOKEN), now, now, None
        )

    def step(self, uid: str, idx: int, phase: str, *times_and_output: Any) -> bool:
        *_, announce = times_and_output
        self.steps.append((uid, idx, phase, announce))
        return idx < 2

    def append_output(self, uid: str, idx: int, offset: int, text: str) -> int:
        stored = self.live.get(idx, "")
        if idx >= 2:
            raise ChunkRefused(f"step {idx} is not running", 409)
        if len(stored) != offset:
            raise ChunkRefused(f"the output stored ends at character {len(stored)}", 409, len(stored))
        self.live[idx] = stored + text
        return len(self.live[idx])

    def finished(self, uid: str, succeeded: bool, message: str) -> None:
        self.verdicts.append((uid, succeeded, message))

    def set_output(self, uid: str, name: str, value: Any) -> None:
        if name == "full":
            raise OutputRefused("a run's outputs are at most 65536 bytes of JSON together", too_large=True)
        self.outputs[name] = value

    def request_retry(self, record: RunRecord, start_after: datetime.datetime, params: dict[str, Any]) -> str:
        if len(self.retries) >= 1:
            raise RetryLimit("a run may ask for at most 1 retries")
        self.retries.append((record.uid, start_after, params))
        return "p-retry-0123abcd"


def exchange(service: FakeService, method: str, path: str, body: Any, token: str | None = TOKEN) -> tuple[int, str]:
    async def go() -> tuple[int, str]:
        api = RunnerApi(RunTokenAuthenticator(TOKENS, service), service, vault=None, events=None)  # type: ignore[arg-type]
        async with TestClient(TestServer(api.app())) as client:
            headers = {} if token is None else {"Authorization": f"Bearer {token}"}
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            response = await client.request(method, path, data=data, headers=headers)
            return response.status, await response.text()

    return asyncio.run(go())


def test_a_good_report_is_recorded_and_a_started_step_is_announced_at_once() -> None:
    service = FakeService()
    assert exchange(service, "POST", "/v1/runs/u1/steps/1", {"phase": "Running"})[0] == 200
    assert exchange(service, "POST", "/v1/runs/u1/steps/1", {"phase": "Succeeded", "exitCode": 0})[0] == 200
    assert service.steps == [("u1", 1, "Running", True), ("u1", 1, "Succeeded", False)]


def test_a_running_steps_chunks_are_appended_in_order_and_a_gap_is_409_saying_where_it_ends() -> None:
    service = FakeService()
    assert exchange(service, "POST", "/v1/runs/u1/steps/0/chunks", {"offset": 0, "text": "one\n"}) == (
        200,
        '{"stored": 4}',
    )
    assert exchange(service, "POST", "/v1/runs/u1/steps/0/chunks", {"offset": 4, "text": "two\n"})[0] == 200
    status, text = exchange(service, "POST", "/v1/runs/u1/steps/0/chunks", {"offset": 2, "text": "x\n"})
    assert status == 409 and json.loads(text)["stored"] == 8
    status, text = exchange(service, "POST", "/v1/runs/u1/steps/3/chunks", {"offset": 0, "text": "x\n"})
    assert status == 409 and "not running" in json.loads(text)["error"]
    assert service.live == {0: "one\ntwo\n"} and service.steps == []  # a chunk is no step report


def test_the_runners_verdict_is_kept_for_the_operator() -> None:
    service = FakeService()
    assert exchange(service, "POST", "/v1/runs/u1/finish", {"succeeded": False, "message": "step b failed"})[0] == 200
    assert service.verdicts == [("u1", False, "step b failed")]


@pytest.mark.parametrize(
    "token", [None, "", "made-up", TOKENS.issue("another-run")], ids=["none", "empty", "made-up", "another-runs"]
)
def test_without_this_runs_token_the_answer_is_401_and_nothing_is_recorded(token: str | None) -> None:
    service = FakeService()
    status, text = exchange(service, "POST", "/v1/runs/u1/steps/0", {"phase": "Running"}, token)
    assert status == 401 and "invalid or revoked run token" in text and service.steps == []


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/v1/runs/u1/nothing"), ("GET", "/v1/runs/u1/steps/0"), ("POST", "/v2/runs/u1")]
)
def test_a_route_that_does_not_exist_is_404_or_405(method: str, path: str) -> None:
    status, _ = exchange(FakeService(), method, path, {"phase": "Running"})
    assert status in (404, 405)
    assert exchange(FakeService(), "POST", "/v1/runs/u1/nothing", {})[0] == 404


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("steps/x", {"phase": "Running"}, "step index 'x' must be a whole number"),
        ("steps/1.5", {"phase": "Running"}, "must be a whole number"),
        ("steps/99999999999999999999999", {"phase": "Running"}, "must be a whole number"),
        ("steps/0", b"{not json", "body is not JSON"),
        ("steps/0", b"", "body is not JSON"),
        ("steps/0", {"phase": "Running", "exitCode": 1.5}, "exitCode must be an integer"),
        ("steps/5", {"phase": "Running"}, "step index 5 is not one of this run's steps"),
        ("finish", {"succeeded": 1}, "succeeded must be true or false"),
        ("steps/0/chunks", {"offset": -1, "text": "a"}, "offset must be a whole number"),
        ("steps/0/chunks", {"offset": "0", "text": "a"}, "offset must be a whole number"),
        ("steps/0/chunks", {"offset": 0, "text": ""}, "text must be a string of at least one character"),
        ("steps/0/chunks", {"offset": 0, "text": "a", "phase": "Running"}, "nothing else"),
        ("steps/0/chunks", {"offset": 0, "text": "a" * (256 * 1024 + 1)}, "send it in several chunks"),
    ],
)
def test_a_bad_body_or_step_index_is_400_naming_the_field(path: str, body: Any, message: str) -> None:
    status, text = exchange(FakeService(), "POST", f"/v1/runs/u1/{path}", body)
    assert status == 400, text
    assert message in json.loads(text)["error"]


def test_a_database_that_is_down_is_503_not_500() -> None:
    status, text = exchange(FakeService(down=True), "POST", "/v1/runs/u1/steps/0", {"phase": "Running"})
    assert status == 503 and "database unavailable" in text


def test_every_route_of_the_runner_api_needs_the_runs_token() -> None:
    """Table from the app itself: a route added later is checked too."""
    api = RunnerApi(RunTokenAuthenticator(TOKENS, FakeService()), FakeService(), vault=None, events=None)  # type: ignore[arg-type]
    routes = [(r.method, r.resource.canonical) for r in api.app().router.routes() if r.resource is not None]
    assert len(routes) == 12  # steps, chunks, finish, state (GET, and the HEAD aiohttp adds), state key, retries,
    # events, secrets, outputs, param files (GET and HEAD)
    for method, template in routes:
        path = template.replace("{uid}", "u1").replace("{idx}", "0")
        path = path.replace("{key}", "k").replace("{name}", "N").replace("{param}", "P")
        for token in (None, TOKENS.issue("another-run")):
            status, text = exchange(FakeService(), method, path, {"phase": "Running", "value": 1}, token)
            assert status == 401, (method, path, token)
            assert method == "HEAD" or "invalid or revoked run token" in text


def test_a_retry_is_asked_for_after_a_delay_or_at_a_cron_time_and_bounded() -> None:
    service = FakeService()
    before = datetime.datetime.now(datetime.UTC)
    status, text = exchange(service, "POST", "/v1/runs/u1/retries", {"afterSeconds": 90, "params": {"attempt": 2}})
    assert status == 200 and json.loads(text)["id"] == "p-retry-0123abcd"
    [(uid, start_after, params)] = service.retries
    assert uid == "u1" and params == {"attempt": 2}
    assert before + datetime.timedelta(seconds=89) < start_after < before + datetime.timedelta(seconds=95)
    status, text = exchange(service, "POST", "/v1/runs/u1/retries", {"afterSeconds": 1})
    assert status == 409 and "at most 1 retries" in text
    status, text = exchange(FakeService(), "POST", "/v1/runs/u1/retries", {"cron": "0 0 1 1 *"})
    assert status == 200 and json.loads(text)["startAfter"].endswith("-01-01T00:00:00Z")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "give either afterSeconds or cron"),
        ({"afterSeconds": 1, "cron": "* * * * *"}, "give either afterSeconds or cron"),
        ({"afterSeconds": -1}, "afterSeconds must be a whole number of seconds, 0 or more"),
        ({"afterSeconds": True}, "afterSeconds must be a whole number"),
        ({"afterSeconds": 40_000_000}, "afterSeconds may be at most 31622400 (366 days)"),
        ({"cron": "61 * * * *"}, "cron: '61 * * * *': the minute field '61' is not valid"),
        ({"afterSeconds": 1, "params": [1]}, "params must be a JSON object"),
        ({"afterSeconds": 1, "when": "now"}, "unknown field(s) when; allowed: afterSeconds, cron, params"),
    ],
)
def test_a_retry_body_that_cannot_be_used_is_400_naming_the_field(body: dict[str, Any], message: str) -> None:
    service = FakeService()
    status, text = exchange(service, "POST", "/v1/runs/u1/retries", body)
    assert status == 400 and message in json.loads(text)["error"], text
    assert service.retries == []


def test_an_output_is_kept_and_one_that_cannot_be_is_refused_naming_why() -> None:
    service = FakeService()
    assert exchange(service, "PUT", "/v1/runs/u1/outputs/rows", {"value": [1, 2]})[0] == 200
    assert service.outputs == {"rows": [1, 2]}
    for name, body, status, says in (
        ("9lives", {"value": 1}, 400, "output name '9lives' must match"),
        ("rows", {"value": None}, 400, "a value that is not null"),
        ("rows", {"value": 1, "extra": 2}, 400, 'body must be {"value": ...}'),
        ("full", {"value": 1}, 413, "at most 65536 bytes"),
    ):
        answer, text = exchange(service, "PUT", f"/v1/runs/u1/outputs/{name}", body)
        assert (answer, says in json.loads(text)["error"]) == (status, True), text
    assert service.outputs == {"rows": [1, 2]}
