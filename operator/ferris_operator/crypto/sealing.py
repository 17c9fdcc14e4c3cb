"""Sealing for GitOps: encrypt ``secrets.json`` on a client to the operator's public key.

X25519 (ephemeral sender key) + HKDF-SHA256 + AES-256-GCM. The sealed text is bound to a
namespace and a package name through the associated data: put into another package it fails
closed. Several sealing keys can be held at once, so a key can rotate while older sealed
texts stay openable until their key is retired.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ferris_ciphertext.aead import open_sealed, seal
from ferris_ciphertext.format import Header, Kind, MalformedCiphertext, TamperedCiphertext, UnknownKeyId, split

PREFIX = "ferris-sealed:v1:"
PUBLIC_KEY_SIZE = 32


def _raw_public(key: X25519PublicKey) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _raw_private(key: X25519PrivateKey) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def _derive(shared: bytes, ephemeral_public: bytes, recipient_public: bytes) -> bytes:
    info = b"ferris-seal-v1" + ephemeral_public + recipient_public
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(shared)


@dataclass(frozen=True)
class PublicSealingKey:
    key_id: str
    public: bytes

    def to_text(self) -> str:
        return f"{self.key_id}:{base64.b64encode(self.public).decode()}"

    @classmethod
    def from_text(cls, text: str) -> PublicSealingKey:
        key_id, sep, encoded = text.strip().partition(":")
        try:
            public = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            public = b""
        if not sep or not key_id or len(public) != PUBLIC_KEY_SIZE:
            raise ValueError(
                "a public sealing key reads KEY_ID:BASE64 (32 bytes); "
                "read it from the ferris-sealing-public-key ConfigMap"
            )
        return cls(key_id, public)


@dataclass(frozen=True)
class SealingKeyRing:
    """Private sealing keys by id; ``active_id`` is the one published for new sealed texts."""

    private_keys: dict[str, bytes]
    active_id: str

    def __repr__(self) -> str:
        return f"SealingKeyRing(ids={sorted(self.private_keys)}, active_id={self.active_id!r})"

    def public_keys(self) -> list[PublicSealingKey]:
        return [
            PublicSealingKey(key_id, _raw_public(X25519PrivateKey.from_private_bytes(raw).public_key()))
            for key_id, raw in sorted(self.private_keys.items())
        ]

    @property
    def active_public(self) -> PublicSealingKey:
        raw = self.private_keys[self.active_id]
        return PublicSealingKey(self.active_id, _raw_public(X25519PrivateKey.from_private_bytes(raw).public_key()))

    def open(self, text: str, namespace: str, package: str) -> bytes:
        blob = _decode_text(text)
        header, header_bytes, body = split(blob, Kind.SEALED)
        try:
            raw = self.private_keys[header.key_id]
        except KeyError:
            raise UnknownKeyId(header.key_id, "sealing key") from None
        ephemeral_public, rest = body[:PUBLIC_KEY_SIZE], body[PUBLIC_KEY_SIZE:]
        if len(rest) < 28:
            raise MalformedCiphertext("truncated sealed text")
        private = X25519PrivateKey.from_private_bytes(raw)
        try:
            shared = private.exchange(X25519PublicKey.from_public_bytes(ephemeral_public))
        except ValueError as exc:
            raise TamperedCiphertext("sealed text carries an invalid ephemeral key") from exc
        key = _derive(shared, ephemeral_public, _raw_public(private.public_key()))
        try:
            return open_sealed(key, header_bytes, rest, "sealed", namespace, package)
        except TamperedCiphertext:
            raise TamperedCiphertext(
                f"sealed text does not open for package {namespace}/{package}: it was sealed for another "
                "namespace or package, or modified; seal it again with "
                f"`ferris seal --namespace {namespace} --package {package}`"
            ) from None


def new_sealing_key() -> tuple[str, bytes]:
    key_id = "seal-" + secrets.token_hex(4)
    return key_id, _raw_private(X25519PrivateKey.generate())


def seal_text(recipient: PublicSealingKey, plaintext: bytes, namespace: str, package: str) -> str:
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = _raw_public(ephemeral.public_key())
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient.public))
    key = _derive(shared, ephemeral_public, recipient.public)
    sealed = seal(key, Header(Kind.SEALED, recipient.key_id), plaintext, "sealed", namespace, package)
    header_len = len(Header(Kind.SEALED, recipient.key_id).encode())
    blob = sealed[:header_len] + ephemeral_public + sealed[header_len:]
    return PREFIX + base64.b64encode(blob).decode()


def _decode_text(text: str) -> bytes:
    text = "".join(text.split())
    if not text.startswith(PREFIX):
        raise MalformedCiphertext(f"sealed text must start with {PREFIX!r}; produce it with `ferris seal`")
    try:
        return base64.b64decode(text[len(PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedCiphertext("sealed text is not valid base64") from exc
