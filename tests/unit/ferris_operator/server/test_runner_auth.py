"""The runner API's authenticator reads the run-token key again when a token names a key it
does not hold (the operator made a new one after the server started), at most every few
seconds, and never for a token of a key it holds."""

from __future__ import annotations

import asyncio
import datetime
import time

import pytest

from ferris_operator import model
from ferris_operator.crypto.run_tokens import RunTokens, token_digest
from ferris_operator.records import RunRecord
from ferris_operator.server.runner_auth import REFRESH_SECONDS, RunTokenAuthenticator, Unauthorised

OLD, NEW = ("dek-000000000001", b"\x01" * 32), ("dek-000000000002", b"\x02" * 32)


class Reports:
    def __init__(self, token: str) -> None:
        self.token = token

    def get(self, uid: str) -> RunRecord:
        now = datetime.datetime.now(datetime.UTC)
        digest = token_digest(self.token)
        return RunRecord(uid, "team", "r", "p", "puid", 1, 1, model.RUNNING, None, None, digest, now, now, None)


def test_a_token_under_a_key_made_since_start_verifies_after_one_refresh() -> None:
    token = RunTokens.of(*NEW).issue("u1")  # the operator, restarted with a new run-token key
    asked: list[float] = []
    now = [100.0]

    def refresh() -> tuple[str, bytes]:
        asked.append(now[0])
        return NEW

    auth = RunTokenAuthenticator(RunTokens.of(*OLD), Reports(token), refresh=refresh, clock=lambda: now[0])  # type: ignore[arg-type]
    record = asyncio.run(auth.run_of("u1", f"Bearer {token}", "10.0.0.1"))
    assert record.uid == "u1" and asked == [100.0]
    asyncio.run(auth.run_of("u1", f"Bearer {token}", "10.0.0.1"))
    assert asked == [100.0]  # known now: no second read


def test_requests_that_arrive_during_a_refresh_wait_for_it_instead_of_being_refused() -> None:
    """A runner's reports can overlap (its step report and a script's state call): the second
    one, arriving while the first reads the new key, is not refused by the throttle."""
    token = RunTokens.of(*NEW).issue("u1")
    asked: list[float] = []

    def refresh() -> tuple[str, bytes]:
        asked.append(0.0)
        time.sleep(0.2)  # the database read, in its thread
        return NEW

    auth = RunTokenAuthenticator(RunTokens.of(*OLD), Reports(token), refresh=refresh, clock=lambda: 100.0)  # type: ignore[arg-type]

    async def both() -> list[RunRecord]:
        return list(await asyncio.gather(*(auth.run_of("u1", f"Bearer {token}", "10.0.0.1") for _ in range(3))))

    assert [record.uid for record in asyncio.run(both())] == ["u1"] * 3
    assert asked == [0.0]


def test_unknown_keys_refresh_at_most_every_few_seconds_and_known_ones_never() -> None:
    forged = RunTokens.of("dek-00000000000f", b"\x0f" * 32).issue("u1")
    asked: list[float] = []
    now = [100.0]

    def refresh() -> None:
        asked.append(now[0])

    auth = RunTokenAuthenticator(RunTokens.of(*OLD), Reports(forged), refresh=refresh, clock=lambda: now[0])  # type: ignore[arg-type]
    for _ in range(3):
        with pytest.raises(Unauthorised, match="invalid or revoked"):
            asyncio.run(auth.run_of("u1", f"Bearer {forged}", "10.0.0.1"))
    assert asked == [100.0]
    now[0] += REFRESH_SECONDS
    bad_mac = RunTokens({OLD[0]: b"\x09" * 32}, OLD[0]).issue("u1")  # a key it holds, a wrong MAC
    for token in (bad_mac, forged):
        with pytest.raises(Unauthorised, match="invalid or revoked"):
            asyncio.run(auth.run_of("u1", f"Bearer {token}", "10.0.0.2"))
    assert asked == [100.0, 100.0 + REFRESH_SECONDS]  # the known key's token asked nothing


def test_a_valid_token_that_is_not_the_runs_current_one_is_refused_as_revoked() -> None:
    """A token the operator issued for the run (its MAC verifies) stops working once the run's
    record holds another digest (the run ended, or its key Secret was made anew)."""
    tokens = RunTokens.of(*OLD)
    current, revoked = tokens.issue("u1"), tokens.issue("u1")
    auth = RunTokenAuthenticator(tokens, Reports(current))  # type: ignore[arg-type]
    assert asyncio.run(auth.run_of("u1", f"Bearer {current}", "10.0.0.1")).uid == "u1"
    with pytest.raises(Unauthorised) as caught:
        asyncio.run(auth.run_of("u1", f"Bearer {revoked}", "10.0.0.1"))
    assert caught.value.status == 401 and "revoked" in str(caught.value)

    class Ended(Reports):
        def get(self, uid: str) -> RunRecord:
            import dataclasses

            return dataclasses.replace(super().get(uid), token_sha256=None)

    with pytest.raises(Unauthorised):
        asyncio.run(RunTokenAuthenticator(tokens, Ended(current)).run_of("u1", f"Bearer {current}", "x"))  # type: ignore[arg-type]
