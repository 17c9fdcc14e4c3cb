"""A scope's policy is its object's: a database row counts only where the object found under
its kind, namespace and name is the one it was recorded for (policies.py). Pure."""

from __future__ import annotations

from typing import Any

from ferris_operator.records import Scope
from ferris_operator.secret_scopes.policies import ScopeObjects, confirmed, scope_of


def platform_body(uid: str, name: str, readers: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"uid": uid, "name": name}, "spec": {"readers": readers, "writers": []}}


def test_a_row_is_confirmed_with_the_objects_policy_not_its_own() -> None:
    row = Scope("uid-1", "platform", "", "shared", {"namespaces": ["everyone"]}, [{"namespace": "x", "package": "p"}])
    scope = confirmed(row, platform_body("uid-1", "shared", {"namespaces": ["team-a"]}))
    assert scope is not None and scope.readers == {"namespaces": ["team-a"]} and scope.writers == []


def test_a_row_whose_object_is_another_one_or_none_is_not_confirmed() -> None:
    row = Scope("uid-1", "platform", "", "shared", {}, [])
    assert confirmed(row, platform_body("uid-2", "shared", {})) is None  # recreated, or another scope's uid
    assert confirmed(row, None) is None
    project = {"metadata": {"uid": "uid-1", "name": "project", "namespace": "team-a"}, "spec": {}}
    assert confirmed(row, project) is None  # the row says platform: a project object is not it
    assert scope_of(project).kind == "project"


def test_only_confirmed_rows_come_back_and_each_object_is_read_where_its_row_says() -> None:
    asked: list[tuple[str, str, str]] = []

    class Cluster:
        def get_custom(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
            asked.append((plural, namespace, name))
            return platform_body("uid-real", "shared", {}) if name == "shared" else None

    rows = [Scope("uid-forged", "platform", "", "shared", {}, []), Scope("uid-real", "platform", "", "shared", {}, [])]
    assert [s.uid for s in ScopeObjects(Cluster()).confirm(rows)] == ["uid-real"]
    assert asked == [("ferrisplatformsecrets", "", "shared")] * 2
