"""One canary finder for the whole suite: it decodes before it searches. A secret can hide inside
a document that was encoded as a whole (a Secret's `data`, a ConfigMap's `binaryData`, a status
field holding base64 of a JSON document, a gzip'd blob, a hex dump of a `bytea` column), where
searching for the value's own base64 finds it only when its offset happens to be a multiple of
three. So every base64- or hex-looking run of characters is decoded (standard and URL-safe
alphabets, with or without padding), every JSON document parsed, every gzip stream opened, and
the search goes on inside each, a few levels deep."""

from __future__ import annotations

import base64
import binascii
import contextlib
import gzip
import json
import re
import zlib
from typing import Any

MAX_DEPTH = 6
BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{12,}={0,2}")
HEX_RUN = re.compile(r"(?:\\x)?((?:[0-9a-fA-F]{2}){8,})")
GZIP_MAGIC = b"\x1f\x8b"


def _decoded_base64(run: str) -> list[bytes]:
    found = []
    body = run.rstrip("=")
    for alphabet in ("std", "url"):
        text = body.replace("-", "+").replace("_", "/") if alphabet == "url" else body
        if alphabet == "std" and ("-" in body or "_" in body):
            continue
        for start in range(4):  # the run may begin mid-quantum (a value cut out of a longer text)
            piece = text[start:]
            piece = piece[: len(piece) - len(piece) % 4] if len(piece) % 4 == 1 else piece
            try:
                found.append(base64.b64decode(piece + "=" * (-len(piece) % 4), validate=True))
            except (binascii.Error, ValueError):
                continue
    return found


def _texts(data: bytes) -> list[str]:
    """What ``data`` says as text: itself if it is UTF-8, and what a gzip stream in it holds.
    (Bytes that are neither are searched as bytes only: see ``_in_bytes``.)"""
    out = []
    if data.startswith(GZIP_MAGIC):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error):
            return []
    with contextlib.suppress(UnicodeDecodeError):
        out.append(data.decode("utf-8"))
    return out


def _in_bytes(canary: str, data: bytes, depth: int, seen: set[str]) -> bool:
    if canary.encode() in data:
        return True
    return any(_in_text(canary, text, depth, seen) for text in _texts(data))


def _in_text(canary: str, text: str, depth: int, seen: set[str]) -> bool:
    if canary in text or canary in text.replace("\\\\", "\\"):
        return True
    if depth >= MAX_DEPTH or text in seen:
        return False
    seen.add(text)
    stripped = text.strip()
    if stripped[:1] in ("{", "[", '"'):
        try:
            if _in_value(canary, json.loads(stripped), depth + 1, seen):
                return True
        except ValueError:
            pass
    for match in BASE64_RUN.finditer(text):
        if any(_in_bytes(canary, data, depth + 1, seen) for data in _decoded_base64(match.group(0))):
            return True
    return any(_in_bytes(canary, bytes.fromhex(match.group(1)), depth + 1, seen) for match in HEX_RUN.finditer(text))


def _in_value(canary: str, value: Any, depth: int, seen: set[str]) -> bool:
    if isinstance(value, dict):
        return any(_in_value(canary, k, depth, seen) or _in_value(canary, v, depth, seen) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_in_value(canary, item, depth, seen) for item in value)
    if isinstance(value, bytes | bytearray | memoryview):
        return _in_bytes(canary, bytes(value), depth, seen)
    if isinstance(value, str):
        return _in_text(canary, value, depth, seen)
    return False


def holds(value: Any, canary: str) -> bool:
    """Whether ``canary`` is anywhere in ``value`` (text, bytes, or JSON-like data), decoded."""
    return _in_value(canary, value, 0, set())


def assert_no_canary(surface: str, value: Any, canaries: list[str]) -> None:
    for canary in canaries:
        assert not holds(value, canary), f"canary {canary!r} found in {surface} (decoded)"
