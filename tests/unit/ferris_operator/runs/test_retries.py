"""The FerrisRun a retry request becomes keeps its place in a chain of runs that start each
other: an attempt (spec.retries) stays at the asking run's depth, a script's retry is the next."""

from __future__ import annotations

import datetime
from typing import Any

from ferris_operator import model
from ferris_operator.records import RetryRequest
from ferris_operator.runs.retries import Retries
from tests.unit.ferris_operator.fakes import RING


class Made:
    def __init__(self) -> None:
        self.runs: list[dict[str, Any]] = []

    def create_or_get(self, obj: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        self.runs.append(obj)
        return {**obj, "metadata": {**obj["metadata"], "uid": "new"}}, True


class Store:
    def retry_made(self, request_id: str, made_uid: str | None = None) -> None:
        pass


def made_depth(attempt: int | None, depth: int) -> str:
    kube = Made()
    from ferris_operator.crypto.run_tokens import RunTokens

    request = RetryRequest(
        "req-1", "run-uid", "team", "p", "r-attempt-2", datetime.datetime.now(datetime.UTC), {}, attempt, depth
    )
    Retries(kube, Store(), RunTokens(dict(RING.keys), RING.active_id)).make(request)  # type: ignore[arg-type]
    return str(kube.runs[0]["metadata"]["annotations"][model.ANNOTATION_CHAIN_DEPTH])


def test_an_attempt_keeps_the_asking_runs_depth_and_a_scripts_retry_is_one_deeper() -> None:
    assert made_depth(attempt=2, depth=3) == "3"
    assert made_depth(attempt=None, depth=3) == "4"
    assert made_depth(attempt=None, depth=0) == "1"
