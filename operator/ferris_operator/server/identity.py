"""Who is asking: a Kubernetes user, from a client certificate the cluster's client CA signed
or a bearer token the API server accepts (TokenReview). Nothing else gets in."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from ferris_operator.ports import User


def user_from_certificate(peercert: Mapping[str, Any] | None) -> User | None:
    """A verified client certificate's user, as the API server reads one: the common name is the
    user, each organization a group. ``peercert`` is what the TLS layer verified (None: none)."""
    if not peercert:
        return None
    name, groups = "", []
    for rdn in peercert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                name = value
            elif key == "organizationName":
                groups.append(value)
    if not name:
        return None
    return User(name, "", (*groups, "system:authenticated"))


TokenReview = Callable[[str], User | None]


class TokenCache:
    """TokenReview answers kept briefly (a console page makes several requests): at most
    ``size`` entries for ``seconds``; a rejected token is kept too, so a flood of made-up tokens
    costs one review each, not more. Keyed by the token's SHA-256, never the token."""

    def __init__(self, review: TokenReview, seconds: float = 30.0, size: int = 4096) -> None:
        self.review = review
        self.seconds = seconds
        self.size = size
        self._entries: OrderedDict[str, tuple[float, User | None]] = OrderedDict()

    def user(self, token: str, now: float | None = None) -> User | None:
        moment = time.monotonic() if now is None else now
        key = hashlib.sha256(token.encode()).hexdigest()
        found = self._entries.get(key)
        if found is not None and moment - found[0] < self.seconds:
            return found[1]
        user = self.review(token)
        self._entries[key] = (moment, user)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return user


def bearer_token(authorization: str) -> str | None:
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 16 * 1024:
        return None
    return token
