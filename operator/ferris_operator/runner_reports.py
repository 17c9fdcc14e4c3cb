"""What runners may send to the runner API, validated before anything is stored. Pure. The byte
limits and the step phases are the wire's (``ferris_wire.runner_api``), which the runner sends by.

A script runs with the runner's identity and can send anything the runner can, so every body
is bounded in bytes and in JSON containers (a few MiB of ``[{},{},...]`` would otherwise become
hundreds of MiB of Python objects) and checked field by field; each refusal names the field."""

from __future__ import annotations

import datetime
import json
import re
from dataclasses import dataclass
from typing import Any

from ferris_operator import model
from ferris_operator.ingest.secrets_json import NAME_PATTERN
from ferris_wire.runner_api import MAX_CHUNK_CHARS, MAX_OUTPUT_CHARS, STEP_PHASES

MAX_RETRY_DELAY = datetime.timedelta(days=366)
MAX_REPORT_CONTAINERS = 16  # a step or finish report is one flat object
MAX_STATE_CONTAINERS = 4096
STATE_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
OUTPUT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")  # a param name in the run it starts
SECRET_NAME = NAME_PATTERN  # as in secrets.json
# A JSON string, as an "unrolled loop" (runs of plain bytes, then one escape): nine times faster
# over a 4 MiB report than an alternation per byte.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


class ReportError(ValueError):
    """The body was refused; the message names the field and what is allowed."""


@dataclass(frozen=True)
class StepReport:
    phase: str
    exit_code: int | None
    started_at: datetime.datetime | None
    finished_at: datetime.datetime | None
    output: str | None


def containers(raw: bytes) -> int:
    """How many JSON objects and arrays ``raw`` holds (brackets inside strings do not count)."""
    bare = _STRING.sub(b"", raw)
    return bare.count(b"{") + bare.count(b"[")


def _reject_constant(name: str) -> None:
    raise ReportError(f"{name} is not JSON")


def decode(raw: bytes, limit: int, max_containers: int) -> Any:
    """Parse a body of at most ``limit`` bytes and ``max_containers`` objects or arrays."""
    if len(raw) > limit:
        raise ReportError(f"body is {len(raw)} bytes, over the limit of {limit}")
    if containers(raw) > max_containers:
        raise ReportError(f"body nests more than {max_containers} JSON objects or arrays")
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"body is not JSON: {exc}") from None
    if b"\\u0000" in raw:  # JSON spells a NUL only so; PostgreSQL stores none in text or jsonb
        where = nul_path(value)
        if where is not None:
            raise ReportError(
                f"{where or 'body'}: holds a NUL character (\\u0000), which Ferris cannot store; remove it"
                " (a script's binary output: print it encoded, e.g. as base64)"
            )
    return value


def nul_path(value: Any, path: str = "") -> str | None:
    """The path of the first key or string in ``value`` that holds a NUL character. Pure."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if "\x00" in key:
                return here.replace("\x00", "\\u0000")
            if (found := nul_path(item, here)) is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            if (found := nul_path(item, f"{path}[{index}]")) is not None:
                return found
    return None


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ReportError("body must be a JSON object")
    return body


def _time(body: dict[str, Any], field: str) -> datetime.datetime | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ReportError(f"{field} must be a string like 2026-01-31T12:00:00Z")
    try:
        return model.parse_timestamp(value)
    except ValueError:
        raise ReportError(f"{field} must be a time like 2026-01-31T12:00:00Z, not {value[:40]!r}") from None


def step_index(text: str) -> int:
    """The step index of a URL; whether the run has that step is the store's to say."""
    if not text.isascii() or not text.isdigit() or len(text) > 4:
        raise ReportError(f"step index {text[:20]!r} must be a whole number (0 for the first step)")
    return int(text)


def parse_step(body: Any) -> StepReport:
    body = _object(body)
    phase = body.get("phase")
    if phase not in STEP_PHASES:
        raise ReportError(f"phase must be one of {', '.join(sorted(STEP_PHASES))}")
    exit_code = body.get("exitCode")
    if exit_code is not None and (type(exit_code) is not int or not -(2**31) <= exit_code < 2**31):
        raise ReportError("exitCode must be an integer")
    output = body.get("output")
    if output is not None and not isinstance(output, str):
        raise ReportError("output must be a string")
    if output is not None and len(output) > MAX_OUTPUT_CHARS:
        raise ReportError(f"output is over {MAX_OUTPUT_CHARS} characters; send its tail")
    return StepReport(phase, exit_code, _time(body, "startedAt"), _time(body, "finishedAt"), output)


def parse_chunk(body: Any) -> tuple[int, str]:
    """A running step's next lines: where they start in its output (characters the runner has
    sent before) and the text."""
    body = _object(body)
    if set(body) - {"offset", "text"}:
        raise ReportError('a chunk is {"offset": N, "text": "..."} and nothing else')
    offset, text = body.get("offset"), body.get("text")
    if type(offset) is not int or not 0 <= offset <= MAX_OUTPUT_CHARS:
        raise ReportError(f"offset must be a whole number from 0 to {MAX_OUTPUT_CHARS}")
    if not isinstance(text, str) or not text:
        raise ReportError("text must be a string of at least one character")
    if len(text) > MAX_CHUNK_CHARS:
        raise ReportError(f"text is over {MAX_CHUNK_CHARS} characters; send it in several chunks")
    return offset, text


def parse_finish(body: Any) -> tuple[bool, str]:
    body = _object(body)
    succeeded, message = body.get("succeeded"), body.get("message", "")
    if not isinstance(succeeded, bool):
        raise ReportError("succeeded must be true or false")
    if not isinstance(message, str):
        raise ReportError("message must be a string")
    return succeeded, message[:1024]


@dataclass(frozen=True)
class RetryAsk:
    """``context.scheduler.retry``: after a delay, or at a cron expression's next time."""

    after: datetime.timedelta | None
    cron: str | None
    params: dict[str, Any]


def parse_retry(body: Any) -> RetryAsk:
    body = _object(body)
    unknown = set(body) - {"afterSeconds", "cron", "params"}
    if unknown:
        raise ReportError(f"unknown field(s) {', '.join(sorted(unknown))}; allowed: afterSeconds, cron, params")
    seconds, cron, params = body.get("afterSeconds"), body.get("cron"), body.get("params", {})
    if (seconds is None) == (cron is None):
        raise ReportError("give either afterSeconds or cron")
    after = None
    if seconds is not None:
        if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
            raise ReportError("afterSeconds must be a whole number of seconds, 0 or more")
        after = datetime.timedelta(seconds=seconds)
        if after > MAX_RETRY_DELAY:
            raise ReportError(f"afterSeconds may be at most {int(MAX_RETRY_DELAY.total_seconds())} (366 days)")
    if cron is not None and (not isinstance(cron, str) or len(cron) > 128):
        raise ReportError("cron must be a cron expression of at most 128 characters")
    if not isinstance(params, dict):
        raise ReportError("params must be a JSON object")
    return RetryAsk(after, cron, params)


SECRET_CONTEXTS = ("project", "platform")


def parse_secret_put(name: str, body: Any) -> tuple[Any, str]:
    """``context.secrets.set``: (value, context) of ``{"value": ..., "context": "project"}``."""
    if not SECRET_NAME.fullmatch(name) or len(name) > 128:
        raise ReportError(f"secret name {name[:40]!r} must match {SECRET_NAME.pattern} (at most 128 characters)")
    body = _object(body)
    unknown = set(body) - {"value", "context"}
    if unknown:
        raise ReportError(f"unknown field(s) {', '.join(sorted(unknown))}; allowed: value, context")
    if body.get("value") is None:
        raise ReportError("value is missing or null; give the secret's value")
    context = body.get("context", "project")
    if context not in SECRET_CONTEXTS:
        raise ReportError(f"context must be one of {', '.join(SECRET_CONTEXTS)}, not {str(context)[:40]!r}")
    return body["value"], str(context)


def parse_output_put(name: str, body: Any) -> Any:
    """``context.outputs.set``: the value of ``{"value": ...}`` (any JSON but null)."""
    if not OUTPUT_NAME.fullmatch(name):
        raise ReportError(f"output name {name[:40]!r} must match {OUTPUT_NAME.pattern}")
    body = _object(body)
    if set(body) != {"value"} or body["value"] is None:
        raise ReportError('body must be {"value": ...} with a value that is not null')
    return body["value"]


def parse_state_put(key: str, body: Any) -> Any:
    if not STATE_KEY.match(key):
        raise ReportError(f"state key {key[:40]!r} must match {STATE_KEY.pattern}")
    body = _object(body)
    if "value" not in body:
        raise ReportError('body must be {"value": ...}')
    return body["value"]
