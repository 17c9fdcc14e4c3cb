"""A 404 means "no such object" only when the API server says so of the object: right after a
restart it answers a CRD's paths with a plain "404 page not found" until it serves the kind,
and a run must not fail as if its package were gone (PackageNotFound) then."""

from __future__ import annotations

import json

import pytest
from kubernetes.client.exceptions import ApiException

from ferris_operator.k8s.errors import API_UNREACHABLE, ResourceNotServed, or_none


def not_found(body: str) -> ApiException:
    exc = ApiException(status=404, reason="Not Found")
    exc.body = body
    return exc


def fail(exc: Exception) -> object:
    raise exc


def test_a_named_not_found_is_none_and_a_kind_not_served_yet_is_a_retry() -> None:
    status = {"kind": "Status", "reason": "NotFound", "details": {"name": "steady", "kind": "ferrispackages"}}
    assert or_none(lambda: fail(not_found(json.dumps(status)))) is None
    with pytest.raises(ResourceNotServed) as raised:
        or_none(lambda: fail(not_found("404 page not found\n")))
    assert isinstance(raised.value, API_UNREACHABLE)  # handlers try again shortly
    with pytest.raises(ApiException):
        or_none(lambda: fail(ApiException(status=500, reason="boom")))
