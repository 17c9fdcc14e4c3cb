"""Query strings and request bodies of the history API, validated and bounded; a refusal names
the field and the fix. Pure."""

from __future__ import annotations

import base64
import binascii
import datetime
import re
from collections.abc import Mapping
from typing import Any

from ferris_operator import model
from ferris_operator.packages.params_schema import MAX_FILE_BYTES
from ferris_operator.records import Cursor, RunFilter
from ferris_operator.server import views

DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
DEFAULT_LIMIT, MAX_LIMIT = 50, 500
MAX_PARAMS_BYTES = 64 * 1024
# A new run's body with its file params' files (base64: 4 bytes for every 3) beside its params.
MAX_RUN_BODY_BYTES = MAX_PARAMS_BYTES + (MAX_FILE_BYTES + 2) // 3 * 4 + 64 * 1024
MAX_FILES = 16
PHASES = (model.PENDING, model.RUNNING, model.SUCCEEDED, model.FAILED, model.CANCELLED)
TRIGGERS = (model.TRIGGER_MANUAL, model.TRIGGER_SCHEDULE, model.TRIGGER_RETRY, model.TRIGGER_EVENT)


class QueryError(ValueError):
    """A bad query or body: the message names the field and the fix (HTTP 400)."""


def name(value: str, what: str) -> str:
    if not DNS_NAME.match(value):
        raise QueryError(f"{what} {value[:80]!r} is not a Kubernetes object name (lower case, digits, '-', '.')")
    return value


def _time(query: Mapping[str, str], field: str) -> datetime.datetime | None:
    text = query.get(field)
    if text is None:
        return None
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise QueryError(f"{field} must be an RFC 3339 time such as 2026-01-31T12:00:00Z") from None
    if moment.tzinfo is None:
        raise QueryError(f"{field} must carry a time zone (end it with Z)")
    return moment


def page_limit(text: str | None, most: int = MAX_LIMIT) -> int:
    """``?limit=``: how many items a page holds (DEFAULT_LIMIT when not given)."""
    try:
        limit = int(text) if text is not None else DEFAULT_LIMIT
    except ValueError:
        raise QueryError(f"limit must be a whole number from 1 to {most}") from None
    if not 1 <= limit <= most:
        raise QueryError(f"limit must be a whole number from 1 to {most}")
    return limit


def run_page(namespace: str, query: Mapping[str, str]) -> tuple[RunFilter, Cursor | None, int]:
    package = query.get("package")
    phase = query.get("phase")
    if phase is not None and phase not in PHASES:
        raise QueryError(f"phase must be one of {', '.join(PHASES)}")
    trigger = query.get("trigger")
    if trigger is not None and trigger not in TRIGGERS:
        raise QueryError(f"trigger must be one of {', '.join(TRIGGERS)}")
    limit = page_limit(query.get("limit"))
    order = query.get("order", "newest")
    if order not in ("newest", "oldest"):
        raise QueryError("order must be newest (the default) or oldest")
    after = None
    if query.get("continue"):
        try:
            after = views.parse_cursor(query["continue"])
        except (ValueError, TypeError):
            raise QueryError("continue is not a token from a previous page; start again without it") from None
    where = RunFilter(
        namespace,
        package=name(package, "package") if package is not None else None,
        phase=phase,
        trigger=trigger,
        since=_time(query, "since"),
        until=_time(query, "until"),
        oldest_first=order == "oldest",
    )
    if after is not None and after.oldest_first != where.oldest_first:
        raise QueryError("continue was made for pages in the other order; start again without it")
    return where, after, limit


def new_run(body: Any) -> tuple[str, dict[str, Any], int | None]:
    """(package, params, timeoutSeconds) of a run to create."""
    if not isinstance(body, dict):
        raise QueryError('body must be a JSON object: {"package": NAME, "params": {...}}')
    unknown = set(body) - {"package", "params", "timeoutSeconds", "files"}
    if unknown:
        raise QueryError(
            f"unknown field(s) {', '.join(sorted(unknown))}; allowed: package, params, timeoutSeconds, files"
        )
    package = body.get("package")
    if not isinstance(package, str):
        raise QueryError("package must be the name of a FerrisPackage in this namespace")
    return name(package, "package"), params(body.get("params", {})), timeout(body.get("timeoutSeconds"))


def param_files(value: Any) -> dict[str, tuple[str, bytes]]:
    """A new run's ``files``: ``{PARAM: {"name": FILE_NAME, "content": BASE64}}`` -> param:
    (name, content). Names and sizes are checked against the package's form by the caller."""
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_FILES:
        raise QueryError(f'files must be an object of at most {MAX_FILES} params: {{"PARAM": {{"name", "content"}}}}')
    files = {}
    for param, file in value.items():
        if not isinstance(file, dict) or set(file) != {"name", "content"}:
            raise QueryError(f'files.{param} must be {{"name": FILE_NAME, "content": BASE64}}')
        if not isinstance(file["name"], str) or not isinstance(file["content"], str):
            raise QueryError(f"files.{param}: name and content must be strings (content in base64)")
        try:
            content = base64.b64decode(file["content"], validate=True)
        except binascii.Error:
            raise QueryError(f"files.{param}.content is not base64") from None
        files[param] = (file["name"], content)
    return files


def from_step(value: Any) -> int | None:
    """A rerun's first step (1 is the first); None: the whole run."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 64:
        raise QueryError("fromStep must be a whole number from 1 to 64 (the step to start at)")
    return value


def params(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise QueryError("params must be a JSON object")
    return value


def timeout(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 7 * 24 * 3600:
        raise QueryError("timeoutSeconds must be a whole number of seconds from 1 to 604800")
    return value


def step_index(text: str) -> int:
    if not text.isdigit() or len(text) > 6:
        raise QueryError(f"step index {text[:20]!r} must be a whole number")
    return int(text)


def output_offset(text: str | None) -> int:
    """``?offset=``: the character of a step's output to start at (what a follower that was cut
    off has shown already); 0 when not given."""
    if text is None:
        return 0
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise QueryError("offset must be a whole number of characters (what was shown already), such as 0 or 1024")
    return int(text)


def whole(text: str | None, field: str, most: int = 1_000_000) -> int:
    """A whole number of a query string from 0 to ``most`` (0 when not given)."""
    if text is None:
        return 0
    if not text.isascii() or not text.isdigit() or int(text) > most:
        raise QueryError(f"{field} must be a whole number from 0 to {most}")
    return int(text)
