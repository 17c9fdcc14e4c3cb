"""The master-key ring (key-encryption keys), read from files mounted from a Secret.

Layout of the directory: one file per key, named by its id, holding 32 random bytes encoded
in base64; and a file ``active`` holding the id that wraps new data keys. Anything missing,
short or malformed stops start-up with a message naming the file.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from ferris_ciphertext.aead import KEY_SIZE
from ferris_ciphertext.format import UnknownKeyId

KEY_ID_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
ACTIVE_FILE = "active"


class KeyRingError(Exception):
    """The key ring cannot be loaded; the message names the file and the fix."""


@dataclass(frozen=True)
class KeyRing:
    keys: dict[str, bytes]
    active_id: str

    def __post_init__(self) -> None:
        if self.active_id not in self.keys:
            raise KeyRingError(f"active key {self.active_id!r} is not in the key ring")

    @property
    def active_key(self) -> bytes:
        return self.keys[self.active_id]

    def get(self, key_id: str) -> bytes:
        try:
            return self.keys[key_id]
        except KeyError:
            raise UnknownKeyId(key_id, "master key") from None

    def __repr__(self) -> str:  # never print key bytes
        return f"KeyRing(ids={sorted(self.keys)}, active_id={self.active_id!r})"


def decode_key(text: str, source: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyRingError(f"{source}: not valid base64; generate a key with `ferris keys generate`") from None
    if len(raw) != KEY_SIZE:
        raise KeyRingError(
            f"{source}: key is {len(raw)} bytes, must be {KEY_SIZE}; generate one with `ferris keys generate`"
        )
    return raw


def generate_key_text() -> str:
    return base64.b64encode(secrets.token_bytes(KEY_SIZE)).decode()


def load_keyring(directory: Path) -> KeyRing:
    if not directory.is_dir():
        raise KeyRingError(f"{directory}: master-key directory does not exist; mount the master-key Secret there")
    active_file = directory / ACTIVE_FILE
    if not active_file.is_file():
        raise KeyRingError(f"{active_file}: missing; it must name the active master key id")
    active_id = active_file.read_text().strip()
    keys: dict[str, bytes] = {}
    for path in sorted(directory.iterdir()):
        # Kubernetes Secret volumes add hidden ..data links; skip them and the active marker.
        if path.name.startswith(".") or path.name == ACTIVE_FILE or path.is_dir():
            continue
        if not KEY_ID_PATTERN.match(path.name):
            raise KeyRingError(f"{path}: key file name must be a key id matching {KEY_ID_PATTERN.pattern}")
        keys[path.name] = decode_key(path.read_text(), str(path))
    if not keys:
        raise KeyRingError(f"{directory}: no master keys found")
    if active_id not in keys:
        raise KeyRingError(f"{active_file}: names {active_id!r}, but there is no key file {directory / active_id}")
    return KeyRing(keys, active_id)
