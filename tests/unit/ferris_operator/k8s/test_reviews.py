"""What the server asks the API server about a user, and how it reads the answers."""

from __future__ import annotations

from typing import Any

from ferris_operator.k8s.reviews import Reviews
from ferris_operator.records import Access, User


class Answers:
    def __init__(self, status: dict[str, Any]) -> None:
        self.status = status
        self.sent: list[dict[str, Any]] = []

    def review(self, body: dict[str, Any]) -> dict[str, Any]:
        self.sent.append(body)
        return {**body, "status": self.status}


def test_a_token_is_a_user_only_when_the_api_server_says_it_is_authenticated() -> None:
    user = {"username": "alice", "uid": "u1", "groups": ["dev"], "extra": {"scopes": ["a", "b"]}}
    answers = Answers({"authenticated": True, "user": user})
    assert Reviews(answers, audiences=("ferris",)).token("t0ken") == User(
        "alice", "u1", ("dev",), {"scopes": ("a", "b")}
    )
    assert answers.sent[0]["kind"] == "TokenReview"
    assert answers.sent[0]["spec"] == {"token": "t0ken", "audiences": ["ferris"]}
    assert Reviews(Answers({"authenticated": False, "user": user})).token("t0ken") is None
    assert Reviews(Answers({})).token("t0ken") is None


def test_access_asks_about_the_user_as_authenticated_and_is_refused_unless_allowed() -> None:
    alice = User("alice", "u1", ("dev",), {"scopes": ("a",)})
    answers = Answers({"allowed": True})
    assert Reviews(answers).access(alice, Access("create", "ferrisruns"), "team-a", "nightly")
    spec = answers.sent[0]["spec"]
    assert (spec["user"], spec["uid"], spec["groups"], spec["extra"]) == ("alice", "u1", ["dev"], {"scopes": ["a"]})
    assert spec["resourceAttributes"]["namespace"] == "team-a" and spec["resourceAttributes"]["name"] == "nightly"
    assert not Reviews(Answers({"allowed": False})).access(alice, Access("get", "ferrisruns"), "team-a", "")
    assert not Reviews(Answers({})).access(alice, Access("get", "ferrisruns"), "team-a", "")
