"""Who is asking: a Kubernetes user, from a client certificate the cluster's client CA signed
or a bearer token the API server accepts (TokenReview). Nothing else gets in. And whom they ask
to act as (Impersonate-User / Impersonate-Group): honoured only after the caller's own
`impersonate` right is reviewed (server/api.py), as the API server does."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ferris_operator.records import User


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

    def _cached(self, key: str, moment: float) -> tuple[bool, User | None]:
        found = self._entries.get(key)
        if found is not None and moment - found[0] < self.seconds:
            return True, found[1]
        return False, None

    def known(self, token: str, now: float | None = None) -> tuple[bool, User | None]:
        """(True, the answer) when the cluster was asked about ``token`` within the cache's time."""
        return self._cached(hashlib.sha256(token.encode()).hexdigest(), time.monotonic() if now is None else now)

    def user(self, token: str, now: float | None = None) -> User | None:
        moment = time.monotonic() if now is None else now
        key = hashlib.sha256(token.encode()).hexdigest()
        known, user = self._cached(key, moment)
        if known:
            return user
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


MAX_IMPERSONATED_GROUPS = 32
IMPERSONATE_PREFIX = "impersonate-"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"


class ImpersonationError(ValueError):
    """Impersonation headers that cannot be used (400), naming the header."""


@dataclass(frozen=True)
class Impersonation:
    """Whom a caller asks to act as (``Impersonate-User`` and ``Impersonate-Group``, as sent by
    kubectl's --as and --as-group, and by `ferris ... --as`)."""

    user: str
    groups: tuple[str, ...]

    def as_user(self) -> User:
        """The user the request is then authorised as, with the groups the API server would
        give: those asked for, a ServiceAccount's own when none are, and system:authenticated."""
        groups = list(self.groups)
        if not groups and self.user.startswith(SERVICE_ACCOUNT_PREFIX):
            namespace = self.user.removeprefix(SERVICE_ACCOUNT_PREFIX).split(":", 1)[0]
            groups = ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"]
        if "system:authenticated" not in groups:
            groups.append("system:authenticated")
        return User(self.user, "", tuple(groups))

    def service_account(self) -> tuple[str, str] | None:
        """(namespace, name) when the user asked for is a ServiceAccount."""
        if not self.user.startswith(SERVICE_ACCOUNT_PREFIX):
            return None
        namespace, _, name = self.user.removeprefix(SERVICE_ACCOUNT_PREFIX).partition(":")
        return (namespace, name) if namespace and name else None


def impersonation(headers: Mapping[str, str], header_values: Callable[[str], list[str]]) -> Impersonation | None:
    """The impersonation a request asks for (None: none). ``header_values`` gives every value of
    a header (a header may be sent more than once). Pure."""
    asked = {name.lower() for name in headers if name.lower().startswith(IMPERSONATE_PREFIX)}
    unsupported = sorted(asked - {"impersonate-user", "impersonate-group"})
    if unsupported:
        raise ImpersonationError(
            f"header {unsupported[0]} is not supported: impersonate with Impersonate-User and Impersonate-Group only"
        )
    users = header_values("Impersonate-User")
    groups = [g.strip() for value in header_values("Impersonate-Group") for g in value.split(",") if g.strip()]
    if not users:
        if groups:
            raise ImpersonationError("Impersonate-Group needs Impersonate-User (--as-group needs --as)")
        return None
    if len(users) > 1 or not users[0].strip() or len(users[0]) > 256:
        raise ImpersonationError("Impersonate-User must be one user name of at most 256 characters")
    if len(groups) > MAX_IMPERSONATED_GROUPS or any(len(g) > 256 for g in groups):
        raise ImpersonationError(f"Impersonate-Group: at most {MAX_IMPERSONATED_GROUPS} groups of 256 characters")
    return Impersonation(users[0].strip(), tuple(dict.fromkeys(groups)))
