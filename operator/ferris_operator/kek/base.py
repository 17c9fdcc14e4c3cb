"""What every key provider is: a ``WrappedKey`` in, a ``WrappedKey`` out, and a status."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "KeyProvider",
    "KeyRejected",
    "KeyWrapper",
    "ProviderStatus",
    "WrappedKey",
    "bind",
    "unbind",
]

# The plaintext that a remote provider encrypts carries the holder it belongs to, so a wrapped
# key copied to another package, scope or service key opens to a holder that is not its own.
_BOUND = b"ferris-dek-v1\x00"


class KeyRejected(Exception):
    """The provider answered, and the wrapped key does not open: another key, altered bytes,
    or a key of another holder. Never carries key material."""


@dataclass(frozen=True)
class WrappedKey:
    provider: str  # the provider's name, as configured (secret-ring, kms-v2, transit)
    key_id: str  # the key-encryption key's id at the provider
    ciphertext: bytes
    annotations: dict[str, bytes] = field(default_factory=dict)  # KMS v2: the plugin's, kept for Decrypt

    def __repr__(self) -> str:
        return f"WrappedKey(provider={self.provider!r}, key_id={self.key_id!r}, {len(self.ciphertext)} bytes)"


@dataclass(frozen=True)
class ProviderStatus:
    healthy: bool
    key_id: str  # the key new data keys are wrapped with ("" when unknown)
    message: str


class KeyWrapper(Protocol):
    def wrap(self, holder: str, plaintext: bytes) -> WrappedKey:
        """``plaintext`` wrapped by the current key, bound to ``holder``; KeyProviderUnavailable."""
        ...

    def unwrap(self, holder: str, wrapped: WrappedKey) -> bytes:
        """The plaintext; KeyRejected when it does not open for ``holder``, KeyProviderUnavailable
        when the provider cannot be asked."""
        ...


class KeyProvider(KeyWrapper, Protocol):
    @property
    def name(self) -> str: ...

    def status(self) -> ProviderStatus:
        """Never raises: an unreachable provider is an unhealthy status."""
        ...


def bind(holder: str, plaintext: bytes) -> bytes:
    return _BOUND + holder.encode() + b"\x00" + plaintext


def unbind(holder: str, bound: bytes) -> bytes:
    prefix = _BOUND + holder.encode() + b"\x00"
    if not bound.startswith(prefix):
        raise KeyRejected("the provider opened a key that belongs to another holder (a row moved?)")
    return bound[len(prefix) :]
