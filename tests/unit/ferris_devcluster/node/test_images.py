"""The process node's image table and argv."""

from __future__ import annotations

from pathlib import Path

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


def test_a_bare_command_is_found_in_the_image_first(tmp_path: Path) -> None:
    entrypoint = tmp_path / "ferris-operator"
    (tmp_path / "ferris-server").write_text("")
    table = {"ghcr.io/ferris-run/ferris-operator": [str(entrypoint)]}
    image = "ghcr.io/ferris-run/ferris-operator:0.1.0"
    assert resolve_argv(table, image, ["ferris-server"], ["--x"]) == [str(tmp_path / "ferris-server"), "--x"]
    assert resolve_argv(table, image, ["sh", "-c", "true"], None) == ["sh", "-c", "true"]  # not in the image
    assert resolve_argv(table, image, ["/bin/true"], None) == ["/bin/true"]
