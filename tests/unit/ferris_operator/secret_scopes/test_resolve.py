"""Who reads and writes which scope, and how a name resolves. Pure."""

from __future__ import annotations

import pytest

from ferris_operator.records import Scope
from ferris_operator.secret_scopes.resolve import reads, resolve, selector_matches, write_target, writes

PROJECT = Scope("u1", "project", "team", "project", {}, [{"package": "refresher"}])


def platform(name: str, readers: dict[str, object], writers: list[dict[str, str]] | None = None) -> Scope:
    return Scope(f"uid-{name}", "platform", "", name, readers, writers or [])


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ({}, {}, True),  # the empty selector matches everything, as in Kubernetes
        ({"matchLabels": {"tier": "gold"}}, {"tier": "gold", "x": "y"}, True),
        ({"matchLabels": {"tier": "gold"}}, {"tier": "silver"}, False),
        (
            {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["gold", "silver"]}]},
            {"tier": "silver"},
            True,
        ),
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["gold"]}]}, {}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["gold"]}]}, {}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, {"tier": ""}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, {"tier": "x"}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "Near"}]}, {"tier": "x"}, False),
    ],
)
def test_label_selectors_match_as_kubernetes_does(
    selector: dict[str, object], labels: dict[str, str], matches: bool
) -> None:
    assert selector_matches(selector, labels) is matches


def test_a_project_is_read_by_its_own_namespace_only() -> None:
    assert reads(PROJECT, "team", dict) and not reads(PROJECT, "other", dict)


def test_platform_readers_are_names_or_a_selector_and_by_default_nobody() -> None:
    asked: list[int] = []

    def labels() -> dict[str, str]:
        asked.append(1)
        return {"tier": "gold"}

    assert not reads(platform("none", {}), "team", labels) and asked == []
    assert reads(platform("named", {"namespaces": ["team"]}), "team", labels) and asked == []
    assert reads(platform("selected", {"namespaceSelector": {"matchLabels": {"tier": "gold"}}}), "team", labels)
    assert not reads(platform("other", {"namespaceSelector": {"matchLabels": {"tier": "iron"}}}), "team", labels)


def test_writers_name_the_package_and_for_the_platform_its_namespace() -> None:
    shared = platform("shared", {}, [{"namespace": "team", "package": "refresher"}])
    assert writes(PROJECT, "team", "refresher") and not writes(PROJECT, "team", "other")
    assert not writes(PROJECT, "other", "refresher")
    assert writes(shared, "team", "refresher") and not writes(shared, "elsewhere", "refresher")
    assert write_target([PROJECT, shared], "platform", "team", "refresher") == shared
    assert write_target([PROJECT, shared], "project", "team", "refresher") == PROJECT
    assert write_target([PROJECT], "platform", "team", "refresher") is None


def test_a_name_resolves_to_the_first_scope_that_has_it() -> None:
    a, b = platform("a", {}), platform("b", {})
    scoped = resolve(
        {"P": 1},
        [(PROJECT, {"P": "project-p", "Q": "project-q"}, 3), (a, {"Q": "a-q", "R": "a-r"}, 1), (b, {"R": "b-r"}, 2)],
    )
    assert scoped.sources == {"P": "package", "Q": "project", "R": "platform/a"}
    assert scoped.platform == {"Q": "a-q", "R": "a-r"} and scoped.project == {"P": "project-p", "Q": "project-q"}
    assert scoped.versions == {"project": 3, "platform/a": 1, "platform/b": 2}
    assert scoped.bundle() == {"project": scoped.project, "platform": scoped.platform}
    assert "a-r" not in repr(scoped) and "a-r" not in str(scoped.record())
