"""Runner API tokens that the operator can check without touching PostgreSQL.

A token is ``frt1.<key id>.<nonce>.<mac>``: the MAC (HMAC-SHA256 under a key derived from that
key) binds the nonce to the run's UID. A malformed token, a token of another
run, or one made up by a script costs a few microseconds to refuse; only a token with a valid
MAC is looked up (it may still be revoked: the run's stored digest decides). The run-token key
is one of the operator's service keys, stored wrapped by the key provider like a data key: only
the operator and the server unwrap it, so nobody else can mint a token.

Under another key derived from the same one, a *stamp* (``fs1.<key id>.<mac>``) marks an object
the operator made, bound to what it was made for: whoever may create an object of that name
cannot make one the operator takes for its own."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

from ferris_operator.crypto.keyring import KEY_ID_PATTERN, KeyRing

PREFIX = "frt1"
STAMP_PREFIX = "fs1"
TOKEN_PURPOSE = b"ferris runner token v1"  # what each key is derived for
STAMP_PURPOSE = b"ferris object stamp v1"
NONCE_BYTES = 24
_NONCE = re.compile(r"^[A-Za-z0-9_-]{32}$")
_MAC = re.compile(r"^[A-Za-z0-9_-]{43}$")
MAX_TOKEN_CHARS = 200


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _derived(key: bytes, purpose: bytes) -> bytes:
    return hmac.new(key, purpose, hashlib.sha256).digest()


class RunTokens:
    def __init__(self, keys: dict[str, bytes], active: str) -> None:
        """``keys``: key id -> secret key (never itself a signing key: one is derived from
        each); ``active`` signs new tokens, every one verifies."""
        self._keys = {key_id: _derived(key, TOKEN_PURPOSE) for key_id, key in keys.items()}
        self._stamp_keys = {key_id: _derived(key, STAMP_PURPOSE) for key_id, key in keys.items()}
        self._active = active
        if active not in self._keys:
            raise ValueError(f"active run-token key {active!r} is not among the keys")

    @classmethod
    def of(cls, service_key_id: str, service_key: bytes, ring: KeyRing | None = None) -> RunTokens:
        """Tokens signed under the operator's run-token service key (stored wrapped by the key
        provider); those signed under the master keys of a mounted ring (before the service
        key existed) still verify, so runs in flight across the upgrade keep reporting."""
        legacy = dict(ring.keys) if ring else {}
        return cls({**legacy, service_key_id: service_key}, service_key_id)

    def __repr__(self) -> str:
        return f"RunTokens(active={self._active!r})"

    def add(self, key_id: str, key: bytes) -> None:
        """Another key that verifies (one the other process made after this one started)."""
        self._keys.setdefault(key_id, _derived(key, TOKEN_PURPOSE))
        self._stamp_keys.setdefault(key_id, _derived(key, STAMP_PURPOSE))

    def knows_key_of(self, token: str) -> bool:
        """False when ``token`` is well formed and names a key this object does not hold."""
        parts = token.split(".")
        return len(parts) != 4 or parts[0] != PREFIX or not KEY_ID_PATTERN.match(parts[1]) or parts[1] in self._keys

    def _mac(self, key_id: str, run_uid: str, nonce: str) -> str:
        message = f"{run_uid}\x00{nonce}".encode()
        return _b64(hmac.new(self._keys[key_id], message, hashlib.sha256).digest())

    def issue(self, run_uid: str) -> str:
        nonce = _b64(secrets.token_bytes(NONCE_BYTES))
        return f"{PREFIX}.{self._active}.{nonce}.{self._mac(self._active, run_uid, nonce)}"

    def verify(self, run_uid: str, token: str) -> bool:
        """True when ``token`` was issued by this operator for ``run_uid`` (revocation is checked
        separately, against the run's record)."""
        if len(token) > MAX_TOKEN_CHARS:
            return False
        parts = token.split(".")
        if len(parts) != 4 or parts[0] != PREFIX:
            return False
        _, key_id, nonce, mac = parts
        if not KEY_ID_PATTERN.match(key_id) or key_id not in self._keys:
            return False
        if not _NONCE.match(nonce) or not _MAC.match(mac):
            return False
        return hmac.compare_digest(mac, self._mac(key_id, run_uid, nonce))

    def _stamp_mac(self, key_id: str, parts: tuple[str, ...]) -> str:
        message = "\x00".join(parts).encode()
        return _b64(hmac.new(self._stamp_keys[key_id], message, hashlib.sha256).digest())

    def stamp(self, *parts: str) -> str:
        """The operator's mark on an object it makes for ``parts`` (what names its purpose)."""
        return f"{STAMP_PREFIX}.{self._active}.{self._stamp_mac(self._active, parts)}"

    def stamped(self, stamp: str, *parts: str) -> bool:
        """True when ``stamp`` is this operator's mark for exactly ``parts``."""
        pieces = stamp.split(".") if len(stamp) <= MAX_TOKEN_CHARS else []
        if len(pieces) != 3 or pieces[0] != STAMP_PREFIX or pieces[1] not in self._stamp_keys:
            return False
        return _MAC.match(pieces[2]) is not None and hmac.compare_digest(pieces[2], self._stamp_mac(pieces[1], parts))


def token_digest(token: str) -> str:
    """What the database keeps of a run's token: its SHA-256, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()
