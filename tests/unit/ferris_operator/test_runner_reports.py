"""Bounds of the runner's reports."""

from __future__ import annotations

import json
import re

import pytest

from ferris_operator import runner_reports
from ferris_operator.runner_reports import ReportError, containers


def test_containers_are_counted_outside_strings_only() -> None:
    assert containers(b'{"output": "{{{[[[ \\" [[[ {{{"}') == 1
    assert containers(json.dumps({"a": [{}, {}, [1]]}).encode()) == 5


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        ("bad-name", {"value": "x"}, "secret name 'bad-name' must match"),
        ("T", {"value": None}, "value is missing or null"),
        ("T", {"value": "x", "context": "package"}, "context must be one of project, platform"),
        ("T", {"value": "x", "scope": "project"}, "unknown field(s) scope"),
    ],
)
def test_a_secret_write_names_what_is_wrong(name: str, body: object, message: str) -> None:
    with pytest.raises(runner_reports.ReportError, match=re.escape(message)):
        runner_reports.parse_secret_put(name, body)


def test_a_secret_write_defaults_to_the_project() -> None:
    assert runner_reports.parse_secret_put("TOKEN", {"value": {"a": 1}}) == ({"a": 1}, "project")


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"phase": "Running", "output": "a\u0000b"}, "output: holds a NUL character"),
        ({"data": {"item": ["ok", "x\u0000"]}}, "data.item[1]: holds a NUL character"),
        ({"message": "\u0000"}, "message: holds a NUL character"),
        ({"k\u0000": 1}, "k\\u0000: holds a NUL character"),
    ],
)
def test_a_nul_anywhere_in_a_body_is_400_naming_the_field_before_any_database_sees_it(
    body: dict[str, object], named: str
) -> None:
    raw = json.dumps(body).encode()
    with pytest.raises(ReportError, match=re.escape(named)):
        runner_reports.decode(raw, 1 << 20, 64)
    assert runner_reports.decode(
        json.dumps({"output": "a\\\\u0000 is text"}).encode(), 1 << 20, 64
    )  # spelled out: fine
