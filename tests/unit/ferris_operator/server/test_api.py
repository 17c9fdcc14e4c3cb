"""The server's routes with fakes for the cluster and the history: every route refuses the
unauthenticated (401) and the unauthorised (403, naming the permission), and answers the
authorised; a route missing from the table below fails the test."""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ferris_operator import model
from ferris_operator.records import (
    Access,
    Cursor,
    Event,
    EventRecord,
    RunFilter,
    RunRecord,
    StepRecord,
    StepSummary,
    User,
)
from ferris_operator.server import queries
from ferris_operator.server.api import HELD_PER_USER, ServerApi
from ferris_operator.server.authz import REVIEW_BURST, Authorizer
from ferris_operator.server.events_api import EventsApi
from ferris_operator.server.identity import TokenCache
from ferris_operator.work.ratelimit import TokenBuckets
from tests.canaries import assert_no_canary
from tests.unit.world import FakeKube, FakeVault, Refusal, SentEvent

T0 = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
VIEWER, EDITOR, STRANGER = "viewer-token", "editor-token", "stranger-token"
VIEW = {("list", "ferrisruns", ""), ("get", "ferrisruns", ""), ("get", "ferrisruns", "log")}
VIEW |= {("list", "ferrispackages", ""), ("get", "ferrispackages", "")}
VIEW |= {("list", "ferrisevents", ""), ("get", "ferrisevents", ""), ("list", "ferrisprojectsecrets", "")}
VIEW |= {("list", "ferristriggers", "")}
EDIT = VIEW | {("create", "ferrisruns", ""), ("update", "ferrispackages", "secrets"), ("create", "ferrisevents", "")}
EDIT |= {("patch", "ferrisruns", "")}
ORDER = {
    "specversion": "1.0",
    "id": "order-1",
    "source": "/shop",
    "type": "com.example.order",
    "data": {"item": "book"},
}
RIGHTS: dict[str, set[tuple[str, str, str]]] = {"viewer": VIEW, "editor": EDIT, "stranger": set(), "admin": set()}
IMPERSONATORS = {"admin"}  # may impersonate any user and group (and nothing else here)

# Every route: (method, path in team-a, body), and the least role that may call it.
ROUTES = {
    ("GET", "/api/v1/self"): ("/api/v1/self", None, "stranger"),
    ("GET", "/api/v1/namespaces/{namespace}/permissions"): ("/api/v1/namespaces/team-a/permissions", None, "stranger"),
    ("GET", "/api/v1/namespaces/{namespace}/runs"): ("/api/v1/namespaces/team-a/runs", None, "viewer"),
    ("POST", "/api/v1/namespaces/{namespace}/runs"): (
        "/api/v1/namespaces/team-a/runs",
        {"package": "nightly", "params": {"x": 1}},
        "editor",
    ),
    ("GET", "/api/v1/namespaces/{namespace}/runs/{name}"): ("/api/v1/namespaces/team-a/runs/nightly-1", None, "viewer"),
    ("GET", "/api/v1/namespaces/{namespace}/runs/{name}/steps/{index}/log"): (
        "/api/v1/namespaces/team-a/runs/nightly-1/steps/0/log",
        None,
        "viewer",
    ),
    ("POST", "/api/v1/namespaces/{namespace}/runs/{name}/rerun"): (
        "/api/v1/namespaces/team-a/runs/nightly-1/rerun",
        {"params": {"x": 2}},
        "editor",
    ),
    ("POST", "/api/v1/namespaces/{namespace}/runs/{name}/cancel"): (
        "/api/v1/namespaces/team-a/runs/live-1/cancel",
        {},
        "editor",
    ),
    ("GET", "/api/v1/namespaces/{namespace}/packages"): ("/api/v1/namespaces/team-a/packages", None, "viewer"),
    ("GET", "/api/v1/namespaces/{namespace}/packages/{name}"): (
        "/api/v1/namespaces/team-a/packages/nightly",
        None,
        "viewer",
    ),
    ("PUT", "/api/v1/namespaces/{namespace}/packages/{name}/secrets"): (
        "/api/v1/namespaces/team-a/packages/nightly/secrets",
        {"API_KEY": "s3cr3t-value"},
        "editor",
    ),
    ("POST", "/api/v1/namespaces/{namespace}/events"): ("/api/v1/namespaces/team-a/events", ORDER, "editor"),
    ("GET", "/api/v1/namespaces/{namespace}/events"): ("/api/v1/namespaces/team-a/events", None, "viewer"),
    ("GET", "/api/v1/namespaces/{namespace}/events/{seq}"): ("/api/v1/namespaces/team-a/events/1", None, "viewer"),
}
ROLES = ["stranger", "viewer", "editor"]
RUNS = "/api/v1/namespaces/team-a/runs"
PACKAGES = "/api/v1/namespaces/team-a/packages"


class FakeReviews:
    def __init__(self) -> None:
        self.token_reviews = 0
        self.access_reviews: list[tuple[str, Access, str]] = []

    def token(self, token: str) -> User | None:
        self.token_reviews += 1
        role = token.removesuffix("-token")
        return User(role, f"uid-{role}", ("system:authenticated",)) if role in RIGHTS else None

    def access(self, user: User, access: Access, namespace: str, name: str) -> bool:
        self.access_reviews.append((user.name, access, namespace))
        if access.verb == "impersonate":
            return access.group == "" and user.name in IMPERSONATORS
        return namespace == "team-a" and (access.verb, access.resource, access.subresource) in RIGHTS[user.name]


def record(name: str = "nightly-1", phase: str = model.SUCCEEDED) -> RunRecord:
    return RunRecord(
        "uid-1", "team-a", name, "nightly", "puid", 1, 1, phase, "Succeeded", "", "d", T0, T0, T0, params={"x": 1}
    )


class FakeHistory:
    def __init__(self) -> None:
        self.pages: list[tuple[RunFilter, Cursor | None, int]] = []

    def page(self, where: RunFilter, after: Cursor | None, limit: int) -> tuple[list[RunRecord], Cursor | None]:
        self.pages.append((where, after, limit))
        return [record()], Cursor(T0, "uid-1")

    def find(self, namespace: str, name: str) -> RunRecord | None:
        return record() if (namespace, name) == ("team-a", "nightly-1") else None

    def steps(self, uid: str) -> list[StepSummary]:
        return [StepSummary(StepRecord(0, "a.py", "Succeeded", 0, T0, T0, ""), 12)]

    def output(self, uid: str, idx: int, start: int = 0) -> StepRecord | None:
        return StepRecord(0, "a.py", "Succeeded", 0, T0, T0, "hello output"[start:]) if idx == 0 else None

    def outputs(self, uid: str) -> dict[str, Any]:
        return {"rows": 3}


def package() -> dict[str, Any]:
    status = {
        "secrets": {"names": ["API_KEY"], "count": 1, "version": 3},
        "conditions": [{"type": "Ready", "status": "True"}],
    }
    return {
        "metadata": {"namespace": "team-a", "name": "nightly", "uid": "puid"},
        "spec": {"scripts": [{"name": "a.py"}]},
        "status": status,
    }


class FakeEvents:
    """One stored event, already routed into one run."""

    def __init__(self) -> None:
        self.stored: list[tuple[Event, str]] = []

    def put(self, event: Event, sent_by: str) -> tuple[int, bool]:
        self.stored.append((event, sent_by))
        return 1, len(self.stored) > 1

    def get(self, namespace: str, seq: int) -> EventRecord | None:
        if (namespace, seq) != ("team-a", 1):
            return None
        event = self.stored[0][0] if self.stored else Event("order-1", "com.example.order", "/shop", "team-a")
        outcome = {"triggers": ["orders"], "runs": ["orders-0123456789ab"], "refused": []}
        return EventRecord(1, event, "user/editor", T0, T0, outcome)

    def page(self, namespace: str, before: int | None, limit: int) -> tuple[list[EventRecord], int | None]:
        found = self.get(namespace, 1)
        return ([found] if found else []), None


class World:
    def __init__(self, declared: dict[str, Any] | None = None) -> None:
        """The server over the fake world's API server and vault, holding the package ``nightly``
        (``declared``, or ``package()``)."""
        self.reviews = FakeReviews()
        self.kube = FakeKube()
        self.kube.put("FerrisPackage", declared or package())
        live = {"metadata": {"namespace": "team-a", "name": "live-1"}, "spec": {"packageRef": {"name": "nightly"}}}
        self.kube.put("FerrisRun", live)  # a run still going: history has no end for it
        self.history = FakeHistory()
        self.vault = FakeVault()
        self.events = FakeEvents()
        self.seconds = 0.0  # the rate limiter's clock: it moves when a test moves it, not with load
        self.api = ServerApi(
            self.kube,
            self.history,
            TokenCache(self.reviews.token),
            Authorizer(self.reviews.access),
            limiter=TokenBuckets(clock=lambda: self.seconds),
            vault=self.vault,
            more_routes=EventsApi(self.events).routes(),  # type: ignore[arg-type]
        )

    def call(
        self, method: str, path: str, body: Any = None, token: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        async def go() -> tuple[int, str]:
            app: web.Application = self.api.app()
            async with TestClient(TestServer(app)) as client:
                sent = {"Authorization": f"Bearer {token}"} if token else {}
                sent |= headers or {}
                if method == "POST" and path.endswith("/events"):
                    sent["Content-Type"] = "application/cloudevents+json"
                elif body is not None:
                    sent.setdefault("Content-Type", "application/json")  # as the CLI and the console send it
                data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
                response = await client.request(method, path, data=data, headers=sent)
                return response.status, await response.text()

        return asyncio.run(go())


def test_the_table_names_every_route_of_the_server() -> None:
    declared = {(r.method, r.path) for r in World().api.routes()}
    assert declared == set(ROUTES)


# Served with no login, each for a reason; every other route must be in a table with its access.
PUBLIC = {
    ("GET", "/"): "the console's page: static, it holds no data",
    ("GET", "/console/{name}"): "the console's script and style",
    ("GET", "/api/v1/openapi.json"): "the description of the API",
    ("POST", "/api/v1/namespaces/{namespace}/eventsources/{name}/events"): "a webhook: its signature is its login",
}
# Routes of the server's other APIs, whose access the e2e table (tests/e2e/test_server.py) checks.
OTHER_GUARDED = {
    ("GET", "/api/v1/namespaces/{namespace}/secretwrites"),
    ("GET", "/api/v1/overview"),
    ("GET", "/api/v1/namespaces/{namespace}/chains"),
}


def served_app() -> web.Application:
    """The aiohttp app that `ferris-server` serves (server/main.py), built with nothing behind it:
    building it sends no request and opens no connection."""
    from kubernetes import client
    from psycopg_pool import ConnectionPool

    from ferris_operator.server.main import user_api
    from ferris_operator.settings import Settings

    settings = Settings(database_url="postgresql://unused", master_key_dir=None)
    pool = ConnectionPool("postgresql://unused", open=False)
    configuration = client.Configuration(host="https://127.0.0.1:1")
    return user_api(settings, client.ApiClient(configuration), pool, object())  # type: ignore[arg-type]


def test_every_route_the_server_really_serves_is_in_the_table_with_its_access_or_named_public() -> None:
    """Read from the app the server serves, not from the table the app is built from: a route
    added beside the table, unguarded, fails here."""
    app = served_app()
    served = {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource and r.method != "HEAD"}
    unknown = served - set(ROUTES) - OTHER_GUARDED - set(PUBLIC)
    assert not unknown, f"served, and in no table with its access: {sorted(unknown)}"
    assert set(ROUTES) | OTHER_GUARDED | set(PUBLIC) <= served


@pytest.mark.parametrize("route", sorted(ROUTES))
@pytest.mark.parametrize("role", [None, *ROLES])
def test_every_route_refuses_who_may_not_and_answers_who_may(route: tuple[str, str], role: str | None) -> None:
    path, body, least = ROUTES[route]
    world = World()
    status, text = world.call(route[0], path, body, f"{role}-token" if role else None)
    if role is None:
        assert status == 401, text
    elif ROLES.index(role) < ROLES.index(least):
        assert status == 403, text
        assert f"user '{role}' may not" in json.loads(text)["error"]
    else:
        assert status in (200, 201, 202), text


def test_another_namespace_is_forbidden_even_to_an_editor() -> None:
    status, text = World().call("GET", "/api/v1/namespaces/team-b/runs", token=EDITOR)
    assert status == 403 and "list ferrisruns.ferris.io in namespace team-b" in text


def test_a_made_up_token_is_401_and_reviewed_once_however_often_it_comes() -> None:
    world = World()
    for _ in range(3):
        assert world.call("GET", "/api/v1/self", token="made-up")[0] == 401
    assert world.reviews.token_reviews == 1


def test_a_page_of_runs_carries_the_filters_and_a_continue_token() -> None:
    world = World()
    status, text = world.call(
        "GET",
        "/api/v1/namespaces/team-a/runs?package=nightly&phase=Failed&limit=5&since=2026-01-01T00:00:00Z",
        token=VIEWER,
    )
    assert status == 200
    page = json.loads(text)
    assert page["items"][0]["name"] == "nightly-1" and page["continue"]
    where, after, limit = world.history.pages[0]
    assert (where.package, where.phase, limit, after) == ("nightly", "Failed", 5, None)
    world.call("GET", f"/api/v1/namespaces/team-a/runs?continue={page['continue']}", token=VIEWER)
    assert world.history.pages[1][1] == Cursor(T0, "uid-1")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("limit=0", "limit must be a whole number from 1 to 500"),
        ("limit=x", "limit must be a whole number"),
        ("phase=Bogus", "phase must be one of"),
        ("trigger=Cron", "trigger must be one of Manual, Schedule, Retry, Event"),
        ("since=yesterday", "since must be an RFC 3339 time"),
        ("continue=not-a-token", "continue is not a token from a previous page"),
        ("package=Not_A_Name", "package 'Not_A_Name' is not a Kubernetes object name"),
        ("order=up", "order must be newest (the default) or oldest"),
    ],
)
def test_a_bad_query_is_400_naming_the_field(query: str, message: str) -> None:
    status, text = World().call("GET", f"/api/v1/namespaces/team-a/runs?{query}", token=VIEWER)
    assert status == 400 and message in json.loads(text)["error"]


def test_a_run_its_steps_and_a_steps_full_output() -> None:
    world = World()
    status, text = world.call("GET", "/api/v1/namespaces/team-a/runs/nightly-1", token=VIEWER)
    assert status == 200 and json.loads(text)["steps"][0] == {
        "index": 0,
        "name": "a.py",
        "phase": "Succeeded",
        "exitCode": 0,
        "startedAt": "2026-03-01T12:00:00Z",
        "finishedAt": "2026-03-01T12:00:00Z",
        "outputBytes": 12,
    }
    assert world.call("GET", "/api/v1/namespaces/team-a/runs/nightly-1/steps/0/log", token=VIEWER) == (
        200,
        "hello output",
    )
    assert world.call("GET", "/api/v1/namespaces/team-a/runs/nightly-1/steps/0/log?follow=true", token=VIEWER) == (
        200,
        "hello output",
    )
    assert world.call("GET", "/api/v1/namespaces/team-a/runs/nightly-1/steps/9/log", token=VIEWER)[0] == 404
    assert world.call("GET", "/api/v1/namespaces/team-a/runs/other/steps/0/log", token=VIEWER)[0] == 404
    assert world.call("GET", "/api/v1/namespaces/team-a/runs/nightly-1/steps/x/log", token=VIEWER)[0] == 400


def test_a_run_is_created_for_the_user_and_says_who_asked() -> None:
    world = World()
    status, text = world.call(
        "POST", "/api/v1/namespaces/team-a/runs", {"package": "nightly", "params": {"x": 1}}, EDITOR
    )
    [body] = world.kube.created
    assert status == 201 and json.loads(text) == {"namespace": "team-a", "name": body["metadata"]["name"]}
    assert body["metadata"]["name"].startswith("nightly-") and body["spec"] == {
        "packageRef": {"name": "nightly"},
        "params": {"x": 1},
        "trigger": "Manual",
    }
    assert body["metadata"]["annotations"] == {"ferris.io/requested-by": "editor"}
    world.call("POST", "/api/v1/namespaces/team-a/runs/nightly-1/rerun", b"", EDITOR)
    assert world.kube.created[1]["spec"]["params"] == {"x": 1}  # the original run's
    world.history.find = lambda namespace, name: replace(record(), params=None)  # type: ignore[method-assign]
    status, text = world.call("POST", "/api/v1/namespaces/team-a/runs/nightly-1/rerun", b"", EDITOR)
    assert status == 409 and "params were not kept" in text and len(world.kube.created) == 2


def test_a_rerun_from_a_step_names_the_run_and_the_step_where_the_package_allows_it() -> None:
    world = World({**package(), "spec": {"scripts": [{"name": "a.py"}], "allowRerunFromStep": True}})
    status, _ = world.call("POST", "/api/v1/namespaces/team-a/runs/nightly-1/rerun", {"fromStep": 2}, EDITOR)
    [body] = world.kube.created
    assert status == 201 and (body["spec"]["rerunOf"], body["spec"]["fromStep"]) == ("nightly-1", 2)
    for wrong in (0, 65, "2", True):
        status, text = world.call("POST", "/api/v1/namespaces/team-a/runs/nightly-1/rerun", {"fromStep": wrong}, EDITOR)
        assert status == 400 and "fromStep must be a whole number from 1 to 64" in text
    strict = World()
    status, text = strict.call("POST", "/api/v1/namespaces/team-a/runs/nightly-1/rerun", {"fromStep": 2}, EDITOR)
    assert status == 409 and "spec.allowRerunFromStep: true" in text and strict.kube.created == []


def test_secret_params_go_to_the_vault_bound_to_the_run_and_never_into_the_ferrisrun() -> None:
    schema = {"properties": {"token": {"type": "string", "secret": True}, "region": {"type": "string"}}}
    world = World({**package(), "spec": {"scripts": [{"name": "a.py"}], "paramsSchema": schema}})
    body = {"package": "nightly", "params": {"token": "s3cr3t-c4n4ry", "region": "eu"}}
    status, text = world.call("POST", "/api/v1/namespaces/team-a/runs", body, EDITOR)
    [made] = world.kube.created
    assert status == 201 and made["spec"]["params"] == {"region": "eu"}
    assert made["metadata"]["annotations"]["ferris.io/secret-params"] == "token"
    assert "s3cr3t-c4n4ry" not in json.dumps(made) and "s3cr3t-c4n4ry" not in text
    assert world.vault.run_secret_params == {made["metadata"]["uid"]: ("puid", {"token": "s3cr3t-c4n4ry"})}
    world.history.find = lambda namespace, name: replace(record(), params={"region": "eu", "token": "****"})  # type: ignore[method-assign]
    status, text = world.call("POST", "/api/v1/namespaces/team-a/runs/nightly-1/rerun", b"", EDITOR)
    assert status == 400 and "token are secret and were not kept; give them again" in text
    without = World({**package(), "spec": {"scripts": [{"name": "a.py"}], "paramsSchema": schema}})
    without.api.vault = without.api.params_vault = None
    status, text = without.call("POST", "/api/v1/namespaces/team-a/runs", body, EDITOR)
    assert status == 501 and without.kube.created == []


def test_a_run_is_cancelled_for_who_may_patch_it_and_an_ended_or_unknown_one_is_not() -> None:
    world = World()
    status, text = world.call("POST", f"{RUNS}/live-1/cancel", {}, EDITOR)
    assert status == 202 and world.kube.cancelled == [("team-a", "live-1")], text
    status, text = world.call("POST", f"{RUNS}/nightly-1/cancel", {}, EDITOR)  # history says it succeeded
    assert status == 409 and "has ended (Succeeded)" in text
    status, text = world.call("POST", f"{RUNS}/nowhere/cancel", {}, EDITOR)
    assert status == 404 and "no run nowhere in namespace team-a" in text
    status, text = world.call("POST", f"{RUNS}/live-1/cancel", {}, VIEWER)
    assert status == 403 and "patch ferrisruns" in text and world.kube.cancelled == [("team-a", "live-1")]
    refusing = World()
    refusing.kube.cancel_run = lambda namespace, name: (_ for _ in ()).throw(Refusal("forbidden: ferrisruns patch"))  # type: ignore[method-assign]
    status, text = refusing.call("POST", f"{RUNS}/live-1/cancel", {}, EDITOR)
    assert status == 502 and "the API server refused to cancel run live-1: forbidden" in text


def test_a_runs_outputs_come_with_it() -> None:
    status, text = World().call("GET", "/api/v1/namespaces/team-a/runs/nightly-1", token=VIEWER)
    assert status == 200 and json.loads(text)["outputs"] == {"rows": 3}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([1], "body must be a JSON object"),
        ({"package": 3}, "package must be the name"),
        ({"package": "nightly", "params": [1]}, "params must be a JSON object"),
        ({"package": "nightly", "extra": 1}, "unknown field(s) extra"),
        ({"package": "nightly", "timeoutSeconds": 0}, "timeoutSeconds must be a whole number"),
        (b"{not json", "body is not JSON"),
    ],
)
def test_a_bad_run_body_is_400_and_creates_nothing(body: Any, message: str) -> None:
    world = World()
    status, text = world.call("POST", "/api/v1/namespaces/team-a/runs", body, EDITOR)
    assert status == 400 and message in json.loads(text)["error"] and world.kube.created == []


def test_packages_show_secret_names_never_values() -> None:
    status, text = World().call("GET", "/api/v1/namespaces/team-a/packages/nightly", token=VIEWER)
    assert status == 200
    view = json.loads(text)
    assert view["secrets"] == {"names": ["API_KEY"], "count": 1, "version": 3} and view["ready"] is True


def test_a_packages_schedule_is_shown_with_its_next_and_last_times() -> None:
    scheduled = {
        **package(),
        "spec": {
            "scripts": [{"name": "a.py"}],
            "schedule": {"crons": ["30 2 * * *"], "timeZone": "Europe/Berlin", "skip": ["2026-12-02T01:30:00Z"]},
        },
        "status": {
            **package()["status"],
            "schedule": {"nextScheduleTime": "2026-12-01T01:30:00Z", "missedCount": 1, "offsetSeconds": 12},
        },
    }
    status, text = World(scheduled).call("GET", "/api/v1/namespaces/team-a/packages/nightly", token=VIEWER)
    shown = json.loads(text)["schedule"]
    upcoming = shown.pop("nextTimes")
    assert len(upcoming) == 5 and upcoming == sorted(upcoming)  # from now: views.package_detail checks them
    assert status == 200 and shown == {
        "crons": ["30 2 * * *"],
        "timeZone": "Europe/Berlin",
        "suspend": False,
        "nextScheduleTime": "2026-12-01T01:30:00Z",
        "lastScheduledRun": None,
        "missedCount": 1,
        "skip": ["2026-12-02T01:30:00Z"],
        "offsetSeconds": 12,
    }
    status, text = World().call("GET", "/api/v1/namespaces/team-a/packages/nightly", token=VIEWER)
    assert json.loads(text)["schedule"] is None


def test_a_packages_page_shows_its_next_five_start_times_skipped_ones_left_out_and_its_sources() -> None:
    from ferris_operator.server.views import package_detail

    body: Any = {
        **package(),
        "spec": {
            "description": "nightly export",
            "scripts": [
                {"name": "a.py", "content": "print(1)\n"},
                {"name": "q.sql", "configMapRef": {"name": "sql", "key": "q"}},
                {"name": "m.bin", "configMapRefs": [{"name": "m-0", "key": "p"}, {"name": "m-1", "key": "p"}]},
            ],
            "schedule": {"crons": ["30 2 * * *"], "timeZone": "Europe/Berlin", "skip": ["2026-12-02T01:30:00Z"]},
        },
    }
    shown = package_detail(body, datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC))
    assert shown["schedule"]["nextTimes"] == [f"2026-12-0{d}T01:30:00Z" for d in (1, 3, 4, 5, 6)]
    assert shown["description"] == "nightly export"
    assert shown["scriptSources"] == [
        {"name": "a.py", "step": True, "content": "print(1)\n", "configMap": None, "configMapParts": []},
        {
            "name": "q.sql",
            "step": False,
            "content": None,
            "configMap": {"name": "sql", "key": "q"},
            "configMapParts": [],
        },
        {
            "name": "m.bin",
            "step": False,
            "content": None,
            "configMap": None,
            "configMapParts": [{"name": "m-0", "key": "p"}, {"name": "m-1", "key": "p"}],
        },
    ]
    suspended = {**body, "spec": {**body["spec"], "schedule": {**body["spec"]["schedule"], "suspend": True}}}
    assert package_detail(suspended, datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC))["schedule"]["nextTimes"] == []
    broken = {**body, "spec": {**body["spec"], "schedule": {"crons": ["61 * * * *"]}}}
    assert package_detail(broken, datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC))["schedule"]["nextTimes"] == []


def test_params_that_break_the_packages_form_are_refused_before_a_run_is_made() -> None:
    schema = {"required": ["region"], "properties": {"region": {"type": "string", "enum": ["eu", "us"]}}}
    world = World({**package(), "spec": {"paramsSchema": schema}})
    status, text = world.call("POST", RUNS, {"package": "nightly", "params": {"region": "mars"}}, EDITOR)
    assert status == 400 and "param region must be one of 'eu', 'us'" in json.loads(text)["error"]
    status, text = world.call("POST", RUNS, {"package": "nightly"}, EDITOR)
    assert status == 400 and "param region is required" in text
    assert world.kube.created == []
    assert world.call("POST", RUNS, {"package": "nightly", "params": {"region": "eu"}}, EDITOR)[0] == 201
    assert world.call("POST", RUNS, {"package": "missing"}, EDITOR)[0] == 404


def test_permissions_say_what_the_console_may_offer() -> None:
    world = World()
    viewer = json.loads(world.call("GET", "/api/v1/namespaces/team-a/permissions", token=VIEWER)[1])
    editor = json.loads(world.call("GET", "/api/v1/namespaces/team-a/permissions", token=EDITOR)[1])
    assert viewer == {
        "listRuns": True,
        "getRun": True,
        "getLog": True,
        "createRuns": False,
        "cancelRuns": False,
        "listPackages": True,
        "uploadSecrets": False,
        "listEvents": True,
        "sendEvents": False,
        "listSecretWrites": True,
        "listTriggers": True,
    }
    assert editor["createRuns"] is True
    stranger = json.loads(world.call("GET", "/api/v1/namespaces/team-a/permissions", token=STRANGER)[1])
    assert not any(stranger.values())


def test_an_upload_goes_into_the_vault_and_answers_names_only() -> None:
    world = World()
    status, text = world.call("PUT", f"{PACKAGES}/nightly/secrets", {"API_KEY": "s3cr3t-value", "B": "x"}, EDITOR)
    assert status == 200 and json.loads(text) == {
        "names": ["API_KEY", "B"],
        "count": 2,
        "version": 1,
        "uploadedBy": "editor",
    }
    assert world.vault.ingested == [("puid", {"API_KEY": "s3cr3t-value", "B": "x"}, None)]
    [(plural, _, name, patched)] = world.kube.statuses
    assert (
        (plural, name) == ("ferrispackages", "nightly")
        and patched["secrets"]["names"] == ["API_KEY", "B"]
        and patched["secrets"]["source"] == "upload"
    )
    assert_no_canary("the package's status and the answer", [patched, text], ["s3cr3t-value"])
    assert patched["warnings"] == ["secret B is shorter than 4 characters and is not masked in output"]
    assert patched["secrets"]["uploadedBy"] == "editor" and patched["secrets"]["updatedAt"]
    said = "user 'editor' uploaded 2 secrets (version 1) through the Ferris server"
    assert world.kube.events == [SentEvent("FerrisPackage", "nightly", "SecretsUploaded", said, "Normal")]


@pytest.mark.parametrize(
    ("spec", "body", "status", "message"),
    [
        ({"secretsFrom": {"secretName": "s"}}, {"A": "abcdef"}, 409, "takes its secrets from spec.secretsFrom"),
        (
            {"sealedSecrets": "ferris-sealed:v1:x"},
            {"A": "abcdef"},
            409,
            "remove spec.sealedSecrets to manage them here",
        ),
        ({}, b"[1, 2]", 400, "secrets.json"),
        ({}, b"{not json", 400, "secrets.json"),
    ],
)
def test_an_upload_that_cannot_hold_stores_nothing(spec: dict[str, Any], body: Any, status: int, message: str) -> None:
    world = World({**package(), "spec": spec})
    answer, text = world.call("PUT", f"{PACKAGES}/nightly/secrets", body, EDITOR)
    assert answer == status and message in text, text
    assert world.vault.ingested == [] and world.kube.statuses == []


def test_without_a_master_key_the_upload_says_it_is_off() -> None:
    world = World()
    world.api.vault = None
    status, text = world.call("PUT", f"{PACKAGES}/nightly/secrets", {"A": "abcdef"}, EDITOR)
    assert status == 501 and "secrets upload is off" in text


def test_starting_a_run_or_uploading_needs_the_right_to_read_the_package_too() -> None:
    """The server reads the package for these; a user who may only create runs gets a 403."""
    world = World()
    RIGHTS["creator"] = {("create", "ferrisruns", ""), ("update", "ferrispackages", "secrets")}
    try:
        status, text = world.call("POST", RUNS, {"package": "nightly"}, "creator-token")
        assert status == 403 and "may not get ferrispackages.ferris.io" in text
        status, text = world.call("PUT", f"{PACKAGES}/nightly/secrets", {"A": "abcdef"}, "creator-token")
        assert status == 403 and world.kube.created == [] and world.vault.ingested == []
    finally:
        del RIGHTS["creator"]


def test_an_event_is_stored_as_the_sender_and_answered_with_what_it_started() -> None:
    world = World()
    status, text = world.call("POST", "/api/v1/namespaces/team-a/events", ORDER, EDITOR)
    answer = json.loads(text)
    assert status == 200 and answer["routed"] and answer["runs"] == ["orders-0123456789ab"]
    assert answer["duplicate"] is False and answer["triggers"] == ["orders"]
    event, sent_by = world.events.stored[0]
    assert (event.namespace, event.id, event.source, event.data, sent_by) == (
        "team-a",
        "order-1",
        "/shop",
        {"item": "book"},
        "user/editor",
    )
    assert event.depth == 0  # from outside any run


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"specversion": "0.3"}, "specversion"),
        ({"id": ""}, "id: required"),
        ({"source": "/apis/ferris.io/v1alpha1/namespaces/team-a/ferrisruns/a"}, "source: /apis/ferris.io/"),
        ({"data": [1, 2]}, "data: must be a JSON object"),
        ({"datacontenttype": "text/plain"}, "datacontenttype"),
        ({"type": "x" * 300}, "type: 300 characters"),
    ],
)
def test_a_bad_event_is_400_naming_the_attribute_and_nothing_is_stored(change: dict[str, Any], named: str) -> None:
    world = World()
    status, text = world.call("POST", "/api/v1/namespaces/team-a/events", {**ORDER, **change}, EDITOR)
    assert status == 400 and named in json.loads(text)["error"]
    assert world.events.stored == []


def test_an_impersonator_is_answered_as_the_user_it_acts_as_and_nothing_more() -> None:
    world = World()
    as_viewer = {"Impersonate-User": "viewer"}
    assert world.call("GET", "/api/v1/namespaces/team-a/runs", token="admin-token")[0] == 403  # admin's own rights
    assert world.call("GET", "/api/v1/namespaces/team-a/runs", token="admin-token", headers=as_viewer)[0] == 200
    status, text = world.call("POST", RUNS, {"package": "nightly"}, token="admin-token", headers=as_viewer)
    assert status == 403 and "user 'viewer' may not create ferrisruns" in text
    status, text = world.call(
        "GET", "/api/v1/self", token="admin-token", headers={**as_viewer, "Impersonate-Group": "a,b"}
    )
    assert status == 200 and json.loads(text) == {"name": "viewer", "groups": ["a", "b", "system:authenticated"]}
    reviewed = [(who, a.resource, ns) for who, a, ns in world.reviews.access_reviews if a.verb == "impersonate"]
    assert ("admin", "users", "") in reviewed and ("admin", "groups", "") in reviewed


def test_impersonation_without_the_impersonate_right_is_403_naming_it() -> None:
    status, text = World().call("GET", "/api/v1/self", token=VIEWER, headers={"Impersonate-User": "editor"})
    assert status == 403
    error = json.loads(text)["error"]
    assert "user 'viewer' may not impersonate user 'editor'" in error and "impersonate verb on users" in error
    account = {"Impersonate-User": "system:serviceaccount:team-a:bot"}
    status, text = World().call("GET", "/api/v1/self", token=VIEWER, headers=account)
    assert status == 403 and "on serviceaccounts (core API group) in namespace team-a" in text


@pytest.mark.parametrize(
    ("headers", "named"),
    [
        ({"Impersonate-Group": "g"}, "Impersonate-Group needs Impersonate-User"),
        ({"Impersonate-User": "viewer", "Impersonate-Uid": "1"}, "header impersonate-uid is not supported"),
        ({"Impersonate-User": "viewer", "Impersonate-Extra-Scopes": "x"}, "impersonate-extra-scopes"),
        ({"Impersonate-User": "x" * 300}, "at most 256 characters"),
    ],
)
def test_impersonation_headers_that_cannot_be_used_are_400_naming_the_header(
    headers: dict[str, str], named: str
) -> None:
    status, text = World().call("GET", "/api/v1/self", token="admin-token", headers=headers)
    assert status == 400 and named in json.loads(text)["error"]


EXPECTED_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@pytest.mark.parametrize(
    ("path", "token", "status"),
    [
        ("/api/v1/self", None, 401),
        (RUNS, STRANGER, 403),
        (RUNS, VIEWER, 200),
        ("/api/v1/namespaces/team-a/runs/nightly-1/steps/0/log", VIEWER, 200),
        ("/api/v1/namespaces/team-a/runs?limit=x", VIEWER, 400),
    ],
)
def test_every_answer_of_the_api_carries_the_security_headers(path: str, token: str | None, status: int) -> None:
    world = World()

    async def go() -> tuple[int, dict[str, str]]:
        async with TestClient(TestServer(world.api.app())) as client:
            response = await client.get(path, headers={"Authorization": f"Bearer {token}"} if token else {})
            return response.status, dict(response.headers)

    got, headers = asyncio.run(go())
    assert got == status
    assert {name: headers.get(name) for name in EXPECTED_SECURITY_HEADERS} == EXPECTED_SECURITY_HEADERS


def test_the_console_page_and_its_assets_carry_the_security_headers() -> None:
    app = served_app()

    async def go() -> list[dict[str, str]]:
        async with TestClient(TestServer(app)) as client:
            page = await (await client.get("/")).text()
            script = re.search(r'src="(/console/app\.js\?v=[0-9a-f]{16})"', page)
            assert script, page
            paths = ("/", "/console/app.js", script[1], "/console/app.js?v=0000000000000000")
            return [dict((await client.get(path)).headers) for path in paths]

    answers = asyncio.run(go())
    for headers in answers:
        assert {name: headers.get(name) for name in EXPECTED_SECURITY_HEADERS if name != "Cache-Control"} == {
            name: value for name, value in EXPECTED_SECURITY_HEADERS.items() if name != "Cache-Control"
        }
    # Kept only as the page names it (by digest); the page and any other version never.
    assert [h["Cache-Control"] for h in answers] == [
        "no-store",
        "no-store",
        "public, max-age=31536000, immutable",
        "no-store",
    ]


@pytest.mark.parametrize(("wait", "ok"), [("0", True), ("30", True), ("30.5", False), ("-1", False), ("x", False)])
def test_an_events_wait_is_at_most_30_seconds(wait: str, ok: bool) -> None:
    from ferris_operator.server.events_api import wait_seconds
    from ferris_operator.server.queries import QueryError

    if ok:
        assert wait_seconds(wait) == float(wait)
    else:
        with pytest.raises(QueryError, match="wait: "):
            wait_seconds(wait)


def test_an_event_for_a_namespace_the_operator_does_not_watch_is_400_naming_why() -> None:
    world = World()
    world.api.more_routes = EventsApi(world.events, watched=("team-b",)).routes()  # type: ignore[arg-type]
    status, text = world.call("POST", "/api/v1/namespaces/team-a/events", ORDER, EDITOR)
    assert status == 400 and "namespace team-a is not watched by the Ferris operator" in json.loads(text)["error"]
    assert world.events.stored == []


@pytest.mark.parametrize(
    ("headers", "status", "named"),
    [
        ({"Content-Type": "text/plain"}, 415, "send the body as JSON"),
        ({"Content-Type": "application/x-www-form-urlencoded"}, 415, "not application/x-www-form-urlencoded"),
        ({"Content-Type": "application/json", "Origin": "https://evil.example"}, 403, "not from https://evil.example"),
        ({"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, 403, "Sec-Fetch-Site: cross-site"),
    ],
)
def test_a_state_changing_request_from_another_site_or_without_json_is_refused(
    headers: dict[str, str], status: int, named: str
) -> None:
    """A browser holding a cluster client certificate would send it along with a plain form or
    a text/plain fetch from any site: such a request must start nothing."""
    world = World()
    got, text = world.call("POST", RUNS, {"package": "nightly"}, EDITOR, headers=headers)
    assert got == status and named in json.loads(text)["error"]
    assert world.kube.created == []


def test_the_consoles_own_origin_and_a_cli_without_one_may_change_things() -> None:
    world = World()
    for headers in ({}, {"Sec-Fetch-Site": "same-origin"}):
        assert world.call("POST", RUNS, {"package": "nightly"}, EDITOR, headers=headers)[0] == 201


def test_a_flood_of_made_up_tokens_gets_429_and_never_locks_out_a_known_user_behind_the_same_address() -> None:
    """Behind the chart's Ingress every request comes from one address: 25 made-up tokens used
    to make a valid token's request 429. Authentication comes first now; only reviews of tokens
    not seen lately are bounded, all together."""
    world = World()
    assert world.call("GET", RUNS, token=VIEWER)[0] == 200  # the viewer's token, reviewed once
    answers = [world.call("GET", RUNS, token=f"made-up-{i}")[0] for i in range(25)]
    assert answers[:20] == [401] * 20 and set(answers[20:]) == {429}
    assert world.reviews.token_reviews == 1 + 20  # the viewer's, and the burst
    world.seconds += 0.5  # a refill of one, at two a second
    assert world.call("GET", RUNS, token="made-up-new")[0] == 401 and world.reviews.token_reviews == 22
    assert world.call("GET", RUNS, token="made-up-newer")[0] == 429
    assert world.call("GET", RUNS, token=VIEWER)[0] == 200  # a known token: never limited
    assert world.call("GET", RUNS, token="made-up-0")[0] == 401  # a token refused lately: no new review


def test_a_bodyless_rerun_without_content_type_goes_on_the_origin_checks_alone() -> None:
    from ferris_operator.server.origins import cross_site_refusal

    own = ("https://ferris.example",)
    assert cross_site_refusal("POST", {}, own, has_body=False) is None
    assert cross_site_refusal("POST", {"Origin": "https://evil.example"}, own, has_body=False) is not None
    assert cross_site_refusal("POST", {"Origin": "https://ferris.example"}, own, has_body=False) is None
    assert cross_site_refusal("POST", {}, own, has_body=True) == (
        415,
        "send the body as JSON (Content-Type: application/json), not none",
    )
    assert cross_site_refusal("GET", {"Origin": "https://evil.example"}, own) is None  # reads change nothing


def test_the_consoles_own_origin_is_the_host_it_was_asked_for_with_its_scheme() -> None:
    world = World()

    async def go() -> list[int]:
        async with TestClient(TestServer(world.api.app())) as client:
            own = str(client.make_url("")).rstrip("/")  # http://127.0.0.1:PORT: this test serves plain HTTP
            statuses = []
            for origin in (own, own.replace("http://", "https://"), "http://elsewhere.example"):
                response = await client.post(
                    RUNS,
                    json={"package": "nightly"},
                    headers={"Authorization": f"Bearer {EDITOR}", "Origin": origin},
                )
                statuses.append(response.status)
            return statuses

    assert asyncio.run(go()) == [201, 403, 403]


def test_a_user_asking_about_made_up_namespaces_gets_429_after_their_burst_and_nobody_else_does() -> None:
    """``/permissions`` costs eleven reviews per namespace name; each user's uncached reviews come
    from a bucket of their own (authz.REVIEW_BURST), cached answers never spend from it."""
    world = World()
    assert world.call("GET", "/api/v1/namespaces/team-a/permissions", token=VIEWER)[0] == 200
    answers = [world.call("GET", f"/api/v1/namespaces/made-up-{i}/permissions", token=VIEWER) for i in range(15)]
    statuses = [status for status, _ in answers]
    assert statuses[:8] == [200] * 8 and statuses[-1] == 429, statuses
    assert "retry in" in answers[-1][1] and "viewer" in answers[-1][1]
    asked = len(world.reviews.access_reviews)
    assert asked <= REVIEW_BURST + 11  # the burst, and the request that found it spent (answered in parallel)
    assert world.call("GET", "/api/v1/namespaces/team-a/permissions", token=VIEWER)[0] == 200  # cached: free
    assert world.call("GET", RUNS, token=EDITOR)[0] == 200  # another user's bucket is full
    assert len(world.reviews.access_reviews) == asked + 1


class RunningHistory(FakeHistory):
    """A run whose step is still running: a follow stays open until the client leaves."""

    def find(self, namespace: str, name: str) -> RunRecord | None:
        return record(phase=model.RUNNING) if (namespace, name) == ("team-a", "nightly-1") else None

    def output(self, uid: str, idx: int, start: int = 0) -> StepRecord | None:
        return (
            StepRecord(0, "a.py", "Running", None, T0, None, "line\n"[start:] if start < 5 else "")
            if idx == 0
            else None
        )


def test_a_user_holds_at_most_eight_followed_logs_and_another_user_is_not_held_up() -> None:
    world = World()
    world.api.history = RunningHistory()
    log = "/api/v1/namespaces/team-a/runs/nightly-1/steps/0/log?follow=true"

    async def go() -> tuple[list[int], int, str, int]:
        async with TestClient(TestServer(world.api.app())) as client:
            viewer = {"Authorization": f"Bearer {VIEWER}"}
            streams = [await client.get(log, headers=viewer) for _ in range(HELD_PER_USER)]
            for stream in streams:
                assert await stream.content.readline() == b"line\n"  # open and streaming
            ninth = await client.get(log, headers=viewer)
            other = await client.get(log, headers={"Authorization": f"Bearer {EDITOR}"})
            other_status = other.status
            other.close()
            for stream in streams:
                stream.close()
            await asyncio.sleep(0.1)  # the server sees them go
            again = await client.get(log, headers=viewer)
            again_status = again.status
            again.close()
            return [s.status for s in streams], ninth.status, await ninth.text(), other_status * 1000 + again_status

    statuses, ninth, text, others = asyncio.run(go())
    assert statuses == [200] * HELD_PER_USER
    assert ninth == 429 and f"already holds {HELD_PER_USER} followed logs" in text
    assert others == 200_200  # another user, and the same user once a stream closed


def test_a_file_param_goes_to_the_vault_and_the_ferrisrun_holds_its_name_and_size() -> None:
    schema = {
        "properties": {"data": {"type": "file", "maxBytes": 64, "accept": [".csv"]}, "region": {"type": "string"}}
    }
    world = World({**package(), "spec": {"scripts": [{"name": "a.py"}], "paramsSchema": schema}})
    content = b"id,name\n1,c4n4ry-in-a-file\n"

    def body(name: str = "rows.csv", data: bytes = content, **more: Any) -> dict[str, Any]:
        file = {"name": name, "content": base64.b64encode(data).decode()}
        return {"package": "nightly", "params": {"region": "eu"}, "files": {"data": file}, **more}

    status, text = world.call("POST", "/api/v1/namespaces/team-a/runs", body(), EDITOR)
    [made] = world.kube.created
    assert status == 201, text
    assert made["spec"]["params"] == {"region": "eu", "data": {"file": "rows.csv", "bytes": len(content)}}
    assert "c4n4ry" not in json.dumps(made)
    assert world.vault.param_files_kept == {(made["metadata"]["uid"], "data"): ("puid", "rows.csv", content)}
    for wrong, says in (
        (body(data=b"x" * 65), "files.data: param data: the file is 65 bytes, over its maxBytes of 64"),
        (body(name="rows.xlsx"), "files.data: param data: 'rows.xlsx' is not one of .csv"),
        (body(name="../rows.csv"), "the file's name must be 1 to 255 characters with no / or \\\\"),
        ({**body(), "files": {"region": {"name": "a.csv", "content": ""}}}, "files.region: the package's paramsSchema"),
        (
            {**body(), "files": {"data": {"name": "a.csv", "content": "not base64!"}}},
            "files.data.content is not base64",
        ),
        ({**body(), "files": {"data": "a.csv"}}, 'files.data must be {\\"name\\": FILE_NAME, \\"content\\": BASE64}'),
        (
            {"package": "nightly", "params": {"data": {"file": "a.csv", "bytes": 1}}},
            "params.data is a file param: give its file in files (ferris run -p data=@PATH)",
        ),
    ):
        status, text = world.call("POST", "/api/v1/namespaces/team-a/runs", wrong, EDITOR)
        assert status == 400 and says in text, (says, text)
    assert len(world.kube.created) == 1  # nothing made for a refusal
    status, text = world.call("POST", "/api/v1/namespaces/team-a/runs", {"package": "nightly"}, EDITOR)
    assert status == 201  # an optional file param may be left out
    too_large = b"{" + b" " * queries.MAX_RUN_BODY_BYTES + b"}"
    status, text = world.call("POST", "/api/v1/namespaces/team-a/runs", too_large, EDITOR)
    assert status == 413 and f"over the limit of {queries.MAX_RUN_BODY_BYTES}" in text
    without = World({**package(), "spec": {"scripts": [{"name": "a.py"}], "paramsSchema": schema}})
    without.api.vault = without.api.params_vault = None
    status, text = without.call("POST", "/api/v1/namespaces/team-a/runs", body(), EDITOR)
    assert status == 501 and "keeps no files" in text and without.kube.created == []


def test_a_body_that_arrives_in_pieces_is_read_whole() -> None:
    """A large body reaches the server in several segments; each is read, not the first alone."""
    data = {"type": "file", "maxBytes": 2 * 1024 * 1024}
    world = World(
        {**package(), "spec": {"scripts": [{"name": "a.py"}], "paramsSchema": {"properties": {"data": data}}}}
    )
    content = bytes(range(256)) * 4096  # 1 MiB
    file = {"name": "blob.bin", "content": base64.b64encode(content).decode()}
    raw = json.dumps({"package": "nightly", "files": {"data": file}}).encode()

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(raw), 64 * 1024):
            yield raw[start : start + 64 * 1024]
            await asyncio.sleep(0)

    async def go() -> tuple[int, str]:
        async with TestClient(TestServer(world.api.app())) as client:
            headers = {"Authorization": f"Bearer {EDITOR}", "Content-Type": "application/json"}
            response = await client.post("/api/v1/namespaces/team-a/runs", data=pieces(), headers=headers)
            return response.status, await response.text()

    status, text = asyncio.run(go())
    assert status == 201, text
    [made] = world.kube.created
    assert world.vault.param_file("puid", made["metadata"]["uid"], "data") == content
