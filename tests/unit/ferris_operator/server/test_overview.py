"""The console's first screen: which namespaces a user is told of (only those their own access
reads, asked about within a bound, their own first) and what is said of each."""

from __future__ import annotations

import asyncio
import datetime
import json
from collections.abc import Sequence
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from ferris_operator import model
from ferris_operator.records import Access, Overview, RunRecord, User
from ferris_operator.server import overview
from ferris_operator.server.api import ServerApi
from ferris_operator.server.authz import REVIEW_BURST, Authorizer
from ferris_operator.server.identity import TokenCache
from ferris_operator.server.overview import Readable
from ferris_operator.server.overview_api import MAX_CHECKED, OverviewApi
from ferris_operator.work.ratelimit import TokenBuckets
from tests.unit.world import FakeKube

T0 = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
MANY = [f"ns-{i:03d}" for i in range(120)]  # ns-119 is last by name
ANN_SA = "system:serviceaccount:ns-119:ann"
# Who may list what where ("*": in every namespace, asked at cluster scope).
RIGHTS: dict[str, dict[str, set[str]]] = {
    "viewer": {"ferrisruns": {"ns-001"}, "ferrispackages": {"ns-001"}},
    "runs-only": {"ferrisruns": {"ns-002"}, "ferrispackages": set()},
    "admin": {"ferrisruns": {"*"}, "ferrispackages": {"*"}},
    ANN_SA: {"ferrisruns": {"ns-119"}, "ferrispackages": {"ns-119"}},
    "nobody": {"ferrisruns": set(), "ferrispackages": set()},
}


def run(namespace: str, name: str, phase: str) -> RunRecord:
    return RunRecord(f"uid-{name}", namespace, name, "p", "puid", 1, 1, phase, None, None, "d", T0, T0, None)


class FakeHistory:
    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    def overview(self, namespaces: Sequence[str], since: datetime.datetime, most: int) -> Overview:
        self.asked.append(list(namespaces))
        counts = {ns: {model.RUNNING: 1, model.FAILED: 2} for ns in namespaces}
        active = [run(ns, f"{ns}-live", model.RUNNING) for ns in namespaces]
        active += [run(ns, f"{ns}-waiting", model.PENDING) for ns in namespaces]
        return Overview(counts, active, [run(ns, f"{ns}-broke", model.FAILED) for ns in namespaces])


class World:
    def __init__(self, reviews: float = REVIEW_BURST) -> None:
        self.kube = FakeKube()
        for namespace in MANY:
            self.kube.put(
                "FerrisPackage",
                {
                    "metadata": {"namespace": namespace, "name": "nightly"},
                    "spec": {"scripts": [], "schedule": {"crons": ["0 3 * * *"]}},
                    "status": {"schedule": {"nextScheduleTime": f"2026-03-02T03:{MANY.index(namespace) % 60:02d}:00Z"}},
                },
            )
        self.history = FakeHistory()
        self.reviews: list[tuple[str, str, str]] = []
        authorizer = Authorizer(self.review, budget=TokenBuckets(reviews, 0.0001))
        self.api = ServerApi(
            self.kube,
            self.history,  # type: ignore[arg-type]
            TokenCache(lambda token: User(token.removesuffix("-token"), "uid")),
            authorizer,
            more_routes=OverviewApi(self.kube, self.history, authorizer).routes(),  # type: ignore[arg-type]
        )

    def review(self, user: User, access: Access, namespace: str, name: str) -> bool:
        self.reviews.append((user.name, access.resource, namespace))
        allowed = RIGHTS[user.name][access.resource]
        return access.verb == "list" and ("*" in allowed or namespace in allowed)

    def overview(self, user: str, query: str = "") -> tuple[int, Any]:
        async def go() -> tuple[int, Any]:
            async with TestClient(TestServer(self.api.app())) as client:
                response = await client.get(
                    f"/api/v1/overview{query}", headers={"Authorization": f"Bearer {user}-token"}
                )
                return response.status, json.loads(await response.text())

        return asyncio.run(go())


def test_a_viewer_of_one_namespace_is_told_of_it_alone_with_what_goes_on_there() -> None:
    world = World()
    status, answer = world.overview("viewer")
    assert status == 200
    assert [n["name"] for n in answer["namespaces"]] == ["ns-001"]
    assert answer["namespaces"][0] | {"name": None} == {
        "name": None,
        "packages": 1,
        "running": 1,
        "queued": 0,
        "failed": 2,
        "succeeded": 0,
        "cancelled": 0,
    }
    assert [r["name"] for r in answer["running"]] == ["ns-001-live"]
    assert [r["name"] for r in answer["queued"]] == ["ns-001-waiting"]
    assert [r["name"] for r in answer["failed"]] == ["ns-001-broke"]
    assert answer["scheduled"] == [{"namespace": "ns-001", "package": "nightly", "at": "2026-03-02T03:01:00Z"}]
    assert world.history.asked == [["ns-001"]], "history read only where the user may read runs"
    assert "ns-002" not in json.dumps(answer)
    assert answer["unchecked"] == len(MANY) - MAX_CHECKED and answer["next"] == MAX_CHECKED


def test_who_may_list_everywhere_costs_two_reviews_however_many_namespaces() -> None:
    world = World()
    status, answer = world.overview("admin")
    assert status == 200 and len(answer["namespaces"]) == len(MANY) and answer["unchecked"] == 0
    assert sorted(world.reviews) == [("admin", "ferrispackages", ""), ("admin", "ferrisruns", "")]
    assert [s["at"] for s in answer["scheduled"]] == sorted(s["at"] for s in answer["scheduled"])
    assert len(answer["scheduled"]) == 20


def test_a_service_accounts_own_namespace_is_asked_about_first_the_rest_in_bounded_turns() -> None:
    world = World()
    status, answer = world.overview(ANN_SA)
    assert status == 200 and [n["name"] for n in answer["namespaces"]] == ["ns-119"]  # last by name, asked first
    per_request = {ns for _, _, ns in world.reviews} - {""}
    assert len(per_request) == MAX_CHECKED
    world.reviews.clear()
    status, more = world.overview(ANN_SA, f"?from={MAX_CHECKED}")
    assert status == 200 and more["namespaces"] == [] and more["unchecked"] == len(MANY) - 2 * MAX_CHECKED
    assert len({ns for _, _, ns in world.reviews} - {""}) == MAX_CHECKED


def test_a_user_whose_reviews_ran_out_is_told_what_was_checked_and_how_many_were_not() -> None:
    world = World(reviews=12)  # two at cluster scope, then five namespaces
    status, answer = world.overview("viewer")
    assert status == 200, "not a 429: what was checked is answered"
    asked = [ns for _, _, ns in world.reviews if ns]
    checked = {ns for ns in asked if asked.count(ns) == 2}  # runs and packages (in whatever order they ran)
    assert len(checked) <= 5 and answer["unchecked"] == len(MANY) - len(checked)
    assert {n["name"] for n in answer["namespaces"]} == checked & {"ns-001"}


def test_what_a_user_may_not_list_is_null_not_zero() -> None:
    world = World()
    _, answer = world.overview("runs-only", "?prefer=ns-002")
    assert answer["namespaces"] == [
        {"name": "ns-002", "packages": None, "running": 1, "queued": 0, "failed": 2, "succeeded": 0, "cancelled": 0}
    ]
    assert answer["scheduled"] == [], "a schedule is read from packages the user may not list"


def test_a_user_who_may_read_nothing_is_told_of_nothing() -> None:
    world = World()
    status, answer = world.overview("nobody")
    assert status == 200 and answer["namespaces"] == [] and answer["running"] == []
    assert world.history.asked == []


def test_a_bad_preference_is_400_naming_the_field() -> None:
    world = World()
    status, answer = world.overview("viewer", "?prefer=Not_A_Name")
    assert status == 400 and "namespace 'Not_A_Name'" in answer["error"]
    status, answer = world.overview("viewer", "?prefer=" + ",".join(MANY[:6]))
    assert status == 400 and "at most 5" in answer["error"]
    status, answer = world.overview("viewer", "?from=-1")
    assert status == 400 and "from must be a whole number" in answer["error"]


def test_a_namespace_is_asked_about_once_in_the_order_given() -> None:
    assert overview.candidates(["b", "a", "c"], ["c", "z", "c"]) == ["c", "z", "a", "b"]
    assert overview.own_namespace(User("system:serviceaccount:team:ci")) == "team"
    assert overview.own_namespace(User("system:serviceaccount:team")) is None
    assert overview.own_namespace(User("ann@example.com")) is None


def test_the_summary_leaves_out_what_may_not_be_read() -> None:
    facts = Overview({"a": {model.RUNNING: 3}}, [run("a", "r", model.RUNNING)], [])
    body = overview.summary([Readable("a", True, False)], {"a": []}, facts, T0, (0, None), 20)
    assert body["namespaces"][0]["packages"] is None and body["namespaces"][0]["running"] == 3
    assert body["since"] == "2026-03-01T12:00:00Z"
