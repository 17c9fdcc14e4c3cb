"""The process node's image table and argv."""

from __future__ import annotations

import pytest

from ferris_devcluster.node.images import repository, resolve_argv


@pytest.mark.parametrize(
    ("image", "repo"),
    [
        ("busybox", "busybox"),
        ("busybox:1.36", "busybox"),
        ("reg:5000/a/b:1@sha256:ff", "reg:5000/a/b"),
        ("ghcr.io/x/y@sha256:ab", "ghcr.io/x/y"),
    ],
)
def test_repository_strips_tag_and_digest(image: str, repo: str) -> None:
    assert repository(image) == repo


def test_argv_follows_docker_semantics() -> None:
    table = {"runner": ["/bin/runner"], "busybox": []}
    assert resolve_argv(table, "runner:1", None, ["--x"]) == ["/bin/runner", "--x"]
    assert resolve_argv(table, "busybox", ["sh", "-c"], ["echo"]) == ["sh", "-c", "echo"]
    assert resolve_argv(table, "unknown:1", ["true"], None) is None
