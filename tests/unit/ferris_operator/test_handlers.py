"""The periodic re-read of packages' source Secrets (Handlers.resync_package_sources)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ferris_operator import handlers, model
from ferris_operator.package_service import PackageOutcome
from ferris_operator.settings import Settings


def package(name: str, secrets_from: bool, status: dict[str, Any], deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"namespace": "team", "name": name, "uid": f"uid-{name}", "generation": 1}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    spec: dict[str, Any] = {"scripts": [{"name": "a.py", "content": "pass"}]}
    if secrets_from:
        spec["secretsFrom"] = {"secretName": f"{name}-source"}
    return {"metadata": meta, "spec": spec, "status": status}


class FakeKube:
    def __init__(self, packages: list[dict[str, Any]]) -> None:
        self.packages = packages
        self.patched: list[tuple[str, str, dict[str, Any]]] = []

    def iter_packages(self, namespaces: tuple[str, ...]) -> Iterator[dict[str, Any]]:
        return iter(self.packages)

    def patch_status(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.patched.append((plural, name, status))

    def event(self, *args: Any) -> None:
        raise AssertionError("no event expected")


class FakePackages:
    """Reconciling bumps the secrets version of ``changed`` packages and leaves others as they are."""

    def __init__(self, changed: set[str]) -> None:
        self.changed = changed
        self.reconciled: list[str] = []

    def reconcile(self, body: dict[str, Any]) -> PackageOutcome:
        name = body["metadata"]["name"]
        self.reconciled.append(name)
        status = dict(body["status"])
        if name in self.changed:
            status["secrets"] = {"version": status["secrets"]["version"] + 1}
        return PackageOutcome(status)


def test_only_packages_with_a_source_secret_are_read_again_and_only_changes_are_written() -> None:
    unchanged = {"secrets": {"version": 1}}
    kube = FakeKube(
        [
            package("rotated", True, {"secrets": {"version": 1}}),
            package("same", True, unchanged),
            package("sealed", False, unchanged),
            package("going", True, unchanged, deleting=True),
        ]
    )
    packages = FakePackages(changed={"rotated"})
    settings = Settings(database_url="postgresql://x", master_key_dir=Path("."))
    components = SimpleNamespace(
        settings=settings,
        kube=kube,
        vault=None,
        runs=None,
        packages=packages,
        schedules=None,
        events=None,
        sources=None,
        scopes=None,
        scope_store=None,
    )
    handlers.Handlers(components).resync_package_sources()  # type: ignore[arg-type]  # partial fakes
    assert packages.reconciled == ["rotated", "same"]
    assert kube.patched == [(model.PACKAGES, "rotated", {"secrets": {"version": 2}})]
