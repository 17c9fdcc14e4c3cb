"""Bounds of the runner's reports."""

from __future__ import annotations

import json

from ferris_operator.runner_reports import containers


def test_containers_are_counted_outside_strings_only() -> None:
    assert containers(b'{"output": "{{{[[[ \\" [[[ {{{"}') == 1
    assert containers(json.dumps({"a": [{}, {}, [1]]}).encode()) == 5
