"""Validation of a ``secrets.json`` document: the only way secrets enter Ferris.

Every rejection names the offending key or position and the fix. Error messages never
contain a secret value.
"""

from __future__ import annotations

import datetime
import json
import math
import re
from typing import Any

from ferris_operator import model

MAX_BYTES = 256 * 1024
MAX_DEPTH = 32
MAX_NUMBER_CHARS = 64  # a longer number is almost surely an id: quote it
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # whole name: fullmatch, so "A\n" fails


class SecretsJsonError(ValueError):
    """secrets.json was rejected; nothing stored was changed."""


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise SecretsJsonError(f"secrets.json: duplicate key {key!r}; each name may appear once")
        seen[key] = value
    return seen


def _reject_constant(name: str) -> None:
    raise SecretsJsonError(f"secrets.json: {name} is not valid JSON; use a string or a finite number")


def _number_text(text: str) -> None:
    if len(text) > MAX_NUMBER_CHARS:
        raise SecretsJsonError(
            f"secrets.json: a number of {len(text)} characters is over the limit of {MAX_NUMBER_CHARS}; "
            "write it as a string"
        )


def _parse_int(text: str) -> int:
    _number_text(text)
    return int(text)


def _parse_float(text: str) -> float:
    _number_text(text)
    value = float(text)
    if not math.isfinite(value):
        raise SecretsJsonError("secrets.json: a number is too large to be finite; write it as a string")
    return value


def _check_text(name: str, value: Any) -> None:
    """Every string in a value, and every key of a nested object, must be encodable as UTF-8
    (JSON escapes can spell lone surrogates, which nothing downstream can store)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise SecretsJsonError(
                    f"secrets.json: key {name!r} holds an invalid Unicode escape (a lone surrogate); "
                    "use valid UTF-8 text"
                ) from None


def parse_secrets_json(raw: bytes | str) -> dict[str, Any]:
    """Parse and validate; returns the name -> value mapping."""
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    if len(data) > MAX_BYTES:
        raise SecretsJsonError(
            f"secrets.json: {len(data)} bytes is over the limit of {MAX_BYTES} bytes (256 KiB); split the package"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SecretsJsonError(f"secrets.json: invalid UTF-8 at byte {exc.start}; save the file as UTF-8") from None
    if _nesting_exceeds(text):
        raise SecretsJsonError(f"secrets.json: nested deeper than {MAX_DEPTH} levels; flatten the values")
    try:
        document = json.loads(
            text,
            object_pairs_hook=_reject_duplicates,
            parse_constant=_reject_constant,
            parse_int=_parse_int,
            parse_float=_parse_float,
        )
    except json.JSONDecodeError as exc:
        raise SecretsJsonError(
            f"secrets.json: not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(document, dict):
        raise SecretsJsonError(
            f"secrets.json: top level is a {type(document).__name__ if document is not None else 'null'}, "
            'must be an object of names to values, e.g. {"DB_PASS": "..."}'
        )
    if not document:
        raise SecretsJsonError("secrets.json: the object is empty; add at least one secret or drop secretsFrom")
    for name, value in document.items():
        if not NAME_PATTERN.fullmatch(name):
            raise SecretsJsonError(
                f"secrets.json: key {name!r} is not a valid name; names match ^{NAME_PATTERN.pattern}$"
            )
        if value is None or isinstance(value, list):
            kind = "null" if value is None else "an array"
            raise SecretsJsonError(
                f"secrets.json: key {name!r} is {kind}; values are strings, numbers, booleans or objects"
            )
        _check_text(name, value)
    return document


def _nesting_exceeds(text: str) -> bool:
    """Count bracket depth outside strings, so that a hostile document cannot exhaust the parser."""
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif char in "}]":
            depth -= 1
    return False


# ---- what the values mean for a run and for status (pure) ----------------------------------
MIN_MASKED_LENGTH = 4
MAX_ARGV_SECRETS_BYTES = 120 * 1024  # of Linux's 128 KiB per argument; the rest is for params


def argv_bytes(values: dict[str, Any]) -> int:
    """How many bytes the secrets take in sys.argv[1] (the runner's json.dumps)."""
    return len(json.dumps({"secrets": values}).encode())


MAX_WARNINGS = 10  # each is an Event and a line of status: a long list becomes one summary


def short_secret_warnings(values: dict[str, Any]) -> list[str]:
    names = sorted(k for k, v in values.items() if isinstance(v, str | int | float) and len(str(v)) < MIN_MASKED_LENGTH)
    if len(names) > MAX_WARNINGS:
        shown = ", ".join(names[:MAX_WARNINGS])
        return [
            f"{len(names)} secrets are shorter than {MIN_MASKED_LENGTH} characters and are not masked in output "
            f"({shown}, and {len(names) - MAX_WARNINGS} more)"
        ]
    return [
        f"secret {name} is shorter than {MIN_MASKED_LENGTH} characters and is not masked in output" for name in names
    ]


def secrets_summary(
    values: dict[str, Any], version: int, source: str, digest: str, now: datetime.datetime
) -> dict[str, Any]:
    """A package's status.secrets: names, count, version and where they came from; never a
    value, nor anything derived from one."""
    return {
        "names": sorted(values),
        "count": len(values),
        "version": version,
        "source": source,
        "sourceDigest": digest,
        "updatedAt": model.timestamp(now),
    }
