"""The self-describing ciphertext header shared by every Ferris ciphertext.

Layout: ``b"FRS" | format version (1 byte) | kind (1 byte) | key id length (1 byte) |
key id (ASCII)``. The header is always part of the AEAD associated data, so changing any
byte of it makes decryption fail. Data written with format version 1 stays readable as long
as this module can parse version 1.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

MAGIC = b"FRS"
FORMAT_VERSION = 1
NONCE_SIZE = 12
TAG_SIZE = 16


class Kind(enum.IntEnum):
    SECRET_VALUE = 1
    WRAPPED_DEK = 2
    RUN_BUNDLE = 3
    SEALED = 4
    STATE_VALUE = 5
    RUN_PARAMS = 6
    PARAM_FILE = 7


class CiphertextError(Exception):
    """Base class: a ciphertext could not be opened. Never carries plaintext."""


class MalformedCiphertext(CiphertextError):
    """The bytes are not a Ferris ciphertext of a known format (truncated, wrong magic...)."""


class TamperedCiphertext(CiphertextError):
    """Authentication failed: modified, moved to another context, or the wrong key."""


class UnknownKeyId(CiphertextError):
    """The ciphertext names a key that the key ring does not hold."""

    def __init__(self, key_id: str, what: str = "key") -> None:
        super().__init__(f"unknown {what} id {key_id!r}: add that key to the key ring")
        self.key_id = key_id


@dataclass(frozen=True)
class Header:
    kind: Kind
    key_id: str
    version: int = FORMAT_VERSION

    def encode(self) -> bytes:
        key = self.key_id.encode("ascii")
        if not 0 < len(key) < 256:
            raise ValueError("key id must be 1 to 255 ASCII characters")
        return MAGIC + struct.pack("BBB", self.version, self.kind, len(key)) + key


def split(blob: bytes, expected: Kind) -> tuple[Header, bytes, bytes]:
    """Split a ciphertext into (header, header bytes, nonce + sealed body)."""
    if len(blob) < len(MAGIC) + 3 or blob[: len(MAGIC)] != MAGIC:
        raise MalformedCiphertext("not a Ferris ciphertext (bad magic)")
    version, kind, key_len = struct.unpack_from("BBB", blob, len(MAGIC))
    if version != FORMAT_VERSION:
        raise MalformedCiphertext(f"unsupported ciphertext format version {version}")
    if kind != expected:
        raise MalformedCiphertext(f"expected a {expected.name} ciphertext, got kind {kind}")
    start = len(MAGIC) + 3
    key_bytes = blob[start : start + key_len]
    if len(key_bytes) != key_len or key_len == 0:
        raise MalformedCiphertext("truncated ciphertext header")
    try:
        key_id = key_bytes.decode("ascii")
    except UnicodeDecodeError as exc:
        raise MalformedCiphertext("key id is not ASCII") from exc
    body = blob[start + key_len :]
    if len(body) < NONCE_SIZE + TAG_SIZE:
        raise MalformedCiphertext("truncated ciphertext body")
    return Header(Kind(kind), key_id, version), blob[: start + key_len], body


def associated_data(header_bytes: bytes, *fields: str) -> bytes:
    """Length-prefixed concatenation: no two distinct field lists give the same bytes."""
    out = bytearray(header_bytes)
    for field in fields:
        raw = field.encode("utf-8")
        out += struct.pack(">I", len(raw)) + raw
    return bytes(out)
