"""The master key ring mounted from a Kubernetes Secret, as a key provider (the default).

Its wrapped keys are Ferris ciphertexts (``WRAPPED_DEK``) whose associated data names the
holder, exactly as the vault has always stored them: switching to this interface rewrote
nothing."""

from __future__ import annotations

from ferris_ciphertext.aead import open_sealed, seal
from ferris_ciphertext.format import CiphertextError, Header, Kind, split
from ferris_operator.crypto.keyring import KeyRing
from ferris_operator.kek.base import KeyRejected, ProviderStatus, WrappedKey
from ferris_operator.kek.providers import KeyProviders

NAME = "secret-ring"


class SecretRingProvider:
    def __init__(self, ring: KeyRing) -> None:
        self._ring = ring

    def __repr__(self) -> str:
        return f"SecretRingProvider({self._ring!r})"

    @property
    def name(self) -> str:
        return NAME

    @property
    def ring(self) -> KeyRing:
        return self._ring

    def wrap(self, holder: str, plaintext: bytes) -> WrappedKey:
        header = Header(Kind.WRAPPED_DEK, self._ring.active_id)
        return WrappedKey(NAME, self._ring.active_id, seal(self._ring.active_key, header, plaintext, "dek", holder))

    def unwrap(self, holder: str, wrapped: WrappedKey) -> bytes:
        try:
            header, header_bytes, body = split(wrapped.ciphertext, Kind.WRAPPED_DEK)
            return open_sealed(self._ring.get(header.key_id), header_bytes, body, "dek", holder)
        except CiphertextError as exc:
            raise KeyRejected(
                f"master key {wrapped.key_id!r} of the key ring ({', '.join(sorted(self._ring.keys))}) does not "
                f"open it ({type(exc).__name__})"
            ) from None

    def status(self) -> ProviderStatus:
        return ProviderStatus(True, self._ring.active_id, f"key ring of {len(self._ring.keys)} key(s) mounted")


def ring_providers(ring: KeyRing) -> KeyProviders:
    """The key ring alone, as the vault's providers (tests, benchmarks, the default setup)."""
    return KeyProviders(SecretRingProvider(ring))
