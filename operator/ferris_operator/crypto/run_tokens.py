"""Runner API tokens that the operator can check without touching PostgreSQL.

A token is ``frt1.<master key id>.<nonce>.<mac>``: the MAC (HMAC-SHA256 under a key derived
from that master key) binds the nonce to the run's UID. A malformed token, a token of another
run, or one made up by a script costs a few microseconds to refuse; only a token with a valid
MAC is looked up (it may still be revoked: the run's stored digest decides). The master key
never leaves the operator, so nobody else can mint a token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

from ferris_operator.crypto.keyring import KEY_ID_PATTERN, KeyRing

PREFIX = "frt1"
NONCE_BYTES = 24
_NONCE = re.compile(r"^[A-Za-z0-9_-]{32}$")
_MAC = re.compile(r"^[A-Za-z0-9_-]{43}$")
MAX_TOKEN_CHARS = 200


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class RunTokens:
    def __init__(self, ring: KeyRing) -> None:
        # One derived key per master key: the master key itself never signs anything.
        self._keys = {
            key_id: hmac.new(key, b"ferris runner token v1", hashlib.sha256).digest()
            for key_id, key in ring.keys.items()
        }
        self._active = ring.active_id

    def __repr__(self) -> str:
        return f"RunTokens(active={self._active!r})"

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


def token_digest(token: str) -> str:
    """What the database keeps of a run's token: its SHA-256, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()
