"""AES-256-GCM sealing of one payload under one header."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ferris_ciphertext.format import NONCE_SIZE, Header, Kind, TamperedCiphertext, associated_data, split

KEY_SIZE = 32


def seal(key: bytes, header: Header, plaintext: bytes, *context: str) -> bytes:
    header_bytes = header.encode()
    nonce = os.urandom(NONCE_SIZE)
    aad = associated_data(header_bytes, *context)
    return header_bytes + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, header_bytes: bytes, body: bytes, *context: str) -> bytes:
    nonce, sealed = body[:NONCE_SIZE], body[NONCE_SIZE:]
    try:
        return AESGCM(key).decrypt(nonce, sealed, associated_data(header_bytes, *context))
    except InvalidTag as exc:
        raise TamperedCiphertext(
            "authentication failed: the ciphertext was modified, belongs to another context, or the key is wrong"
        ) from exc


def open_blob(key: bytes, blob: bytes, kind: Kind, *context: str) -> bytes:
    """Open a whole ciphertext whose key the caller already holds."""
    _, header_bytes, body = split(blob, kind)
    return open_sealed(key, header_bytes, body, *context)
