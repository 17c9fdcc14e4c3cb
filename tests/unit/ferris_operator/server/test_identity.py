"""Who a request is: the user of a verified client certificate, or of a reviewed bearer token;
reviews and access answers kept briefly and boundedly."""

from __future__ import annotations

from ferris_operator.records import Access, User
from ferris_operator.server.authz import Authorizer
from ferris_operator.server.identity import TokenCache, bearer_token, user_from_certificate


def test_a_certificate_user_is_its_common_name_with_its_organisations_as_groups() -> None:
    cert = {"subject": ((("organizationName", "team-a"),), (("organizationName", "ops"),), (("commonName", "ada"),))}
    user = user_from_certificate(cert)
    assert user == User("ada", "", ("team-a", "ops", "system:authenticated"))
    assert user_from_certificate(None) is None and user_from_certificate({}) is None
    assert user_from_certificate({"subject": ((("organizationName", "x"),),)}) is None  # no name, nobody


def test_only_a_bearer_token_of_sane_size_is_read() -> None:
    assert bearer_token("Bearer abc") == "abc" and bearer_token("bearer  abc ") == "abc"
    assert bearer_token("Basic abc") is None and bearer_token("Bearer ") is None
    assert bearer_token("Bearer " + "x" * 20_000) is None


def test_token_reviews_are_kept_briefly_and_the_cache_is_bounded() -> None:
    calls: list[str] = []

    def review(token: str) -> User | None:
        calls.append(token)
        return User("ada") if token == "good" else None

    cache = TokenCache(review, seconds=30, size=2)
    assert cache.user("good", now=0) == User("ada") and cache.user("good", now=10) == User("ada")
    assert cache.user("bad", now=10) is None and cache.user("bad", now=11) is None
    assert calls == ["good", "bad"]
    cache.user("good", now=41)  # expired: reviewed again
    cache.user("third", now=41)
    assert len(cache._entries) == 2 and calls == ["good", "bad", "good", "third"]


def test_access_answers_are_kept_per_user_access_and_namespace() -> None:
    calls: list[tuple[str, str]] = []

    def review(user: User, access: Access, namespace: str, name: str) -> bool:
        calls.append((user.name, namespace))
        return namespace == "team-a"

    authorizer = Authorizer(review, seconds=30)
    view = Access("list", "ferrisruns")
    assert authorizer.allowed(User("ada"), view, "team-a", now=0) is True
    assert authorizer.allowed(User("ada"), view, "team-a", now=5) is True
    assert authorizer.allowed(User("ada"), view, "team-b", now=5) is False
    assert authorizer.allowed(User("ada", groups=("admins",)), view, "team-a", now=5) is True  # other groups: asked
    assert calls == [("ada", "team-a"), ("ada", "team-b"), ("ada", "team-a")]
    assert authorizer.allowed(User("ada"), view, "team-a", now=31) is True and len(calls) == 4


def test_the_token_cache_keeps_a_digest_of_each_token_never_the_token() -> None:
    import hashlib

    token = "eyJhbGciOi.a-real-looking-token.signature"
    cache = TokenCache(lambda _: User("ada"), seconds=30, size=8)
    cache.user(token, now=0)
    assert list(cache._entries) == [hashlib.sha256(token.encode()).hexdigest()]
    assert token not in repr(cache._entries)
