"""Who may report for a run: the runner holding that run's token, and nobody else.

A run token (``frt1.<key id>.<nonce>.<MAC>``) is checked first by its MAC, without touching
PostgreSQL; one that passes is compared in constant time with the digest stored for the run,
and stops working when the run ends. A source that keeps sending tokens the operator never
issued is answered 429 after a short burst; a valid token is never slowed. This is the runner
API's authenticator alone: user identities (server/identity.py) never reach these routes."""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Callable

from ferris_operator.crypto.run_tokens import RunTokens, token_digest
from ferris_operator.ports import ReportPort
from ferris_operator.process import metrics
from ferris_operator.records import RunRecord
from ferris_operator.work.ratelimit import TokenBuckets


class Unauthorised(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# How often a token naming a key this server does not hold makes it read the run-token key again.
REFRESH_SECONDS = 5.0


class RunTokenAuthenticator:
    def __init__(
        self,
        tokens: RunTokens,
        reports: ReportPort,
        limiter: TokenBuckets | None = None,
        refresh: Callable[[], tuple[str, bytes] | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``refresh``: the run-token key as stored now (id, key), or None when it does not
        open here; asked when a token names a key this server does not hold (the operator made
        a new one after this server started), at most every ``REFRESH_SECONDS``."""
        self.tokens = tokens
        self.reports = reports
        self.limiter = limiter or TokenBuckets()
        self._refresh = refresh
        self._clock = clock
        self._refreshed = -REFRESH_SECONDS
        self._refreshing = asyncio.Lock()

    async def _verify(self, uid: str, token: str) -> bool:
        if self.tokens.verify(uid, token):
            return True
        if self._refresh is None or self.tokens.knows_key_of(token):
            return False
        # One read at a time: a request that arrives while another reads the key waits for
        # that read instead of being refused because one has just begun.
        async with self._refreshing:
            if self.tokens.knows_key_of(token):  # added by the read this request waited for
                return self.tokens.verify(uid, token)
            now = self._clock()
            if now - self._refreshed < REFRESH_SECONDS:
                return False
            self._refreshed = now
            found = await asyncio.to_thread(self._refresh)
            if found is not None:
                self.tokens.add(*found)
        return self.tokens.verify(uid, token)

    async def run_of(self, uid: str, authorization: str, source: str) -> RunRecord:
        """The live run ``uid`` whose token ``authorization`` carries; ``Unauthorised`` otherwise."""
        token = authorization.removeprefix("Bearer ") if authorization.startswith("Bearer ") else ""
        record = None
        if await self._verify(uid, token):
            # A token the operator issued for this run: never rate-limited, checked for revocation.
            record = await asyncio.to_thread(self.reports.get, uid)
        elif self.limiter.blocked(source):
            metrics.RUNNER_API_REFUSED.labels("rate-limited").inc()
            raise Unauthorised(429, "too many failed requests from this address; slow down")
        expected = record.token_sha256 if record else None
        if record is None or not expected or not hmac.compare_digest(token_digest(token), expected):
            self.limiter.spend(source)
            metrics.RUNNER_API_REFUSED.labels("unauthorized").inc()
            raise Unauthorised(401, "invalid or revoked run token")
        return record
