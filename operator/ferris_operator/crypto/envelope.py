"""Envelope encryption of package secrets: values under a per-package data key (DEK),
the DEK wrapped by a master key (KEK).

Associated data binds every value to its package UID, secret name and secrets version, and
every wrapped DEK to its package UID (through the key provider, ``kek/``), so rows cannot be
swapped between packages, names or versions without decryption failing.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from typing import Any

from ferris_ciphertext.aead import KEY_SIZE, open_sealed, seal
from ferris_ciphertext.format import Header, Kind, MalformedCiphertext, UnknownKeyId, split
from ferris_operator.kek.base import KeyWrapper, WrappedKey


@dataclass(frozen=True)
class DataKey:
    key_id: str
    key: bytes

    def __repr__(self) -> str:
        return f"DataKey(key_id={self.key_id!r})"


def new_data_key() -> DataKey:
    return DataKey(key_id="dek-" + secrets.token_hex(6), key=os.urandom(KEY_SIZE))


def wrap_data_key(keys: KeyWrapper, holder_uid: str, dek: DataKey) -> WrappedKey:
    """The data key wrapped by the current key-encryption key, bound to its holder's UID."""
    return keys.wrap(holder_uid, dek.key_id.encode() + b"\x00" + dek.key)


def unwrap_data_key(keys: KeyWrapper, holder_uid: str, wrapped: WrappedKey) -> DataKey:
    key_id, _, key = keys.unwrap(holder_uid, wrapped).partition(b"\x00")
    if len(key) != KEY_SIZE or not key_id:
        raise MalformedCiphertext("the unwrapped data key is not a Ferris data key")
    return DataKey(key_id.decode(), key)


def encrypt_value(dek: DataKey, package_uid: str, name: str, version: int, value: Any) -> bytes:
    plaintext = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    return seal(dek.key, Header(Kind.SECRET_VALUE, dek.key_id), plaintext, "secret", package_uid, name, str(version))


def decrypt_value(dek: DataKey, package_uid: str, name: str, version: int, blob: bytes) -> Any:
    header, header_bytes, body = split(blob, Kind.SECRET_VALUE)
    if header.key_id != dek.key_id:
        raise UnknownKeyId(header.key_id, "data key")
    return json.loads(open_sealed(dek.key, header_bytes, body, "secret", package_uid, name, str(version)))


def encrypt_state(dek: DataKey, package_uid: str, key: str, value: Any) -> bytes:
    """A ``context.state`` value, bound to its package and key."""
    plaintext = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    return seal(dek.key, Header(Kind.STATE_VALUE, dek.key_id), plaintext, "state", package_uid, key)


def encrypt_run_params(dek: DataKey, package_uid: str, run_uid: str, values: dict[str, Any]) -> bytes:
    """A run's secret params, bound to its package and to the run: no other run opens them."""
    plaintext = json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode()
    return seal(dek.key, Header(Kind.RUN_PARAMS, dek.key_id), plaintext, "run-params", package_uid, run_uid)


def encrypt_param_file(dek: DataKey, package_uid: str, run_uid: str, param: str, data: bytes) -> bytes:
    """A file given for a run's file param, bound to its package, the run and the param."""
    return seal(dek.key, Header(Kind.PARAM_FILE, dek.key_id), data, "param-file", package_uid, run_uid, param)


def decrypt_param_file(dek: DataKey, package_uid: str, run_uid: str, param: str, blob: bytes) -> bytes:
    header, header_bytes, body = split(blob, Kind.PARAM_FILE)
    if header.key_id != dek.key_id:
        raise UnknownKeyId(header.key_id, "data key")
    return open_sealed(dek.key, header_bytes, body, "param-file", package_uid, run_uid, param)


def decrypt_run_params(dek: DataKey, package_uid: str, run_uid: str, blob: bytes) -> dict[str, Any]:
    header, header_bytes, body = split(blob, Kind.RUN_PARAMS)
    if header.key_id != dek.key_id:
        raise UnknownKeyId(header.key_id, "data key")
    values = json.loads(open_sealed(dek.key, header_bytes, body, "run-params", package_uid, run_uid))
    return values if isinstance(values, dict) else {}


def decrypt_state(dek: DataKey, package_uid: str, key: str, blob: bytes) -> Any:
    header, header_bytes, body = split(blob, Kind.STATE_VALUE)
    if header.key_id != dek.key_id:
        raise UnknownKeyId(header.key_id, "data key")
    return json.loads(open_sealed(dek.key, header_bytes, body, "state", package_uid, key))
