"""What an API error means, named: not found, conflict, invalid. The adapters ask these instead
of comparing status codes."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from typing import TypeVar

import urllib3
from kubernetes.client.exceptions import ApiException

from ferris_operator.problems import Refused

T = TypeVar("T")
NOT_FOUND, CONFLICT, INVALID = 404, 409, 422


class ResourceNotServed(Exception):
    """A 404 for the kind, not for the object: the API server has just started and does not
    serve the CRD yet. Never "the object does not exist"."""


# "The API server cannot be reached": connection refused or reset (it restarts), as the client's
# transport raises it, or a kind it does not serve yet. Whoever catches it tries again shortly
# instead of failing the object.
API_UNREACHABLE = (urllib3.exceptions.HTTPError, ResourceNotServed)


def is_not_found(exc: ApiException) -> bool:
    return bool(exc.status == NOT_FOUND)


def is_conflict(exc: ApiException) -> bool:
    """409: the object exists already, or a precondition (uid, resourceVersion) did not hold."""
    return bool(exc.status == CONFLICT)


def is_invalid(exc: ApiException) -> bool:
    return bool(exc.status == INVALID)


def _object_not_found(exc: ApiException) -> bool:
    """A 404 that names the object (a Status, reason NotFound, with details.name); the API
    server answers a path it does not serve (yet) with a plain "404 page not found"."""
    try:
        status = json.loads(exc.body or "")
    except (TypeError, ValueError):
        return False
    return (
        isinstance(status, dict)
        and status.get("reason") == "NotFound"
        and bool((status.get("details") or {}).get("name"))
    )


def or_none(call: Callable[[], T]) -> T | None:
    """The object, or None when it does not exist (``ResourceNotServed`` when the API server
    cannot tell yet)."""
    try:
        return call()
    except ApiException as exc:
        if not is_not_found(exc):
            raise
        if _object_not_found(exc):
            return None
        raise ResourceNotServed(f"the API server does not serve this kind yet: {str(exc.body)[:120]}") from None


@contextlib.contextmanager
def tolerating(*kinds: Callable[[ApiException], bool]) -> Iterator[None]:
    """Swallow an API error of the given kinds (``is_not_found``, ``is_conflict``); raise the rest."""
    try:
        yield
    except ApiException as exc:
        if not any(kind(exc) for kind in kinds):
            raise


def api_message(exc: ApiException) -> str:
    """What the API server said: its Status's message, else the HTTP reason."""
    try:
        message = (json.loads(exc.body or "{}") or {}).get("message")
    except (TypeError, ValueError, AttributeError):
        message = None
    return str(message or exc.reason or "")


def refusal(exc: ApiException) -> Refused:
    return Refused(api_message(exc)[:900])
