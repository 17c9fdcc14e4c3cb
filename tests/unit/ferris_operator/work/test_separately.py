"""Periodic loops: one failing object does not cost the others their turn."""

from __future__ import annotations

import psycopg
import pytest

from ferris_operator.work import separately


def test_one_failing_object_does_not_stop_a_loop_but_the_database_going_down_does() -> None:
    done: list[int] = []

    def work(i: int) -> None:
        if i == 1:
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
        done.append(i)

    separately.each("test", [0, 1, 2], work, str)
    assert done == [0, 2]

    def database_down(i: int) -> None:
        raise psycopg.OperationalError("down")

    with pytest.raises(psycopg.OperationalError):
        separately.each("test", [0, 1], database_down, str)
