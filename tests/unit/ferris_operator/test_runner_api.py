"""The runner API's routes without a database: who may call (401), what exists (404), what a
body must be (400, never a 500), and a database that is down (503)."""

from __future__ import annotations

import asyncio
import datetime
import json
from typing import Any

import psycopg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ferris_operator import model
from ferris_operator.crypto.run_tokens import RunTokens, token_digest
from ferris_operator.records import RunRecord
from ferris_operator.runner_api import RunnerApi
from ferris_operator.runner_reports import StepReport
from tests.unit.ferris_operator.fakes import RING

TOKENS = RunTokens(RING)
TOKEN = TOKENS.issue("u1")


class FakeRuns:
    def __init__(self, down: bool = False) -> None:
        self.down = down

    def get(self, uid: str) -> RunRecord | None:
        if self.down:
            raise psycopg.OperationalError("connection refused")
        now = datetime.datetime.now(datetime.UTC)
        return RunRecord(
            uid, "team", "r", "p", "puid", 1, 1, model.RUNNING, None, None, token_digest(TOKEN), now, now, None
        )


class FakeService:
    def __init__(self, down: bool = False) -> None:
        self.tokens = TOKENS
        self.runs = FakeRuns(down)
        self.steps: list[tuple[str, int, StepReport]] = []

    def record_step(self, uid: str, idx: int, report: StepReport) -> bool:
        self.steps.append((uid, idx, report))
        return idx < 2


def exchange(service: FakeService, method: str, path: str, body: Any, token: str | None = TOKEN) -> tuple[int, str]:
    async def go() -> tuple[int, str]:
        app: web.Application = RunnerApi(service).app()  # type: ignore[arg-type]  # a partial fake
        async with TestClient(TestServer(app)) as client:
            headers = {} if token is None else {"Authorization": f"Bearer {token}"}
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            response = await client.request(method, path, data=data, headers=headers)
            return response.status, await response.text()

    return asyncio.run(go())


def test_a_good_report_is_recorded() -> None:
    service = FakeService()
    assert exchange(service, "POST", "/v1/runs/u1/steps/1", {"phase": "Running"})[0] == 200
    assert [(uid, idx, report.phase) for uid, idx, report in service.steps] == [("u1", 1, "Running")]


@pytest.mark.parametrize("token", [None, "", "made-up", TOKENS.issue("another-run")])
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
    ],
)
def test_a_bad_body_or_step_index_is_400_naming_the_field(path: str, body: Any, message: str) -> None:
    status, text = exchange(FakeService(), "POST", f"/v1/runs/u1/{path}", body)
    assert status == 400, text
    assert message in json.loads(text)["error"]


def test_a_database_that_is_down_is_503_not_500() -> None:
    status, text = exchange(FakeService(down=True), "POST", "/v1/runs/u1/steps/0", {"phase": "Running"})
    assert status == 503 and "database unavailable" in text
