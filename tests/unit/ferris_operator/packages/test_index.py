"""The index of packages whose secrets come from a Secret: what the periodic re-read reads."""

from __future__ import annotations

from typing import Any

from ferris_operator.packages.index import SourcedPackages


def body(name: str, uid: str, sourced: bool = True, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"namespace": "team", "name": name, "uid": uid}
    if deleting:
        meta["deletionTimestamp"] = "2026-11-30T00:00:00Z"
    return {"metadata": meta, "spec": {"secretsFrom": {"secretName": "s"}} if sourced else {}}


def test_a_package_is_kept_while_it_reads_a_source_and_exists() -> None:
    index = SourcedPackages()
    index.observe(body("b", "uid-b"))
    index.observe(body("a", "uid-a"))
    index.observe(body("sealed", "uid-s", sourced=False))
    assert index.names() == [("team", "a"), ("team", "b")]
    index.observe(body("a", "uid-a", sourced=False))  # secretsFrom removed
    index.observe(body("b", "uid-b", deleting=True))
    assert index.names() == []


def test_the_end_of_an_older_package_leaves_a_newer_one_of_the_same_name() -> None:
    index = SourcedPackages()
    index.observe(body("p", "uid-old"))
    index.observe(body("p", "uid-new"))  # created again before the old one's delete handler ran
    index.forget(body("p", "uid-old"))
    assert index.names() == [("team", "p")]
    index.forget(body("p", "uid-new"))
    assert index.names() == []
