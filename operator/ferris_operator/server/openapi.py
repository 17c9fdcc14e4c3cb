"""The OpenAPI document of the user API, made from the route table (so it cannot drift from
it). Each operation says which Kubernetes permissions it needs."""

from __future__ import annotations

import re
from typing import Any

from ferris_operator.server.api import Route

QUERY = {
    "/runs": [
        ("package", "only the runs of this package"),
        ("phase", "Pending, Running, Succeeded, Failed or Cancelled"),
        ("trigger", "Manual, Schedule, Retry or Event"),
        ("since", "created at or after (RFC 3339)"),
        ("until", "created before (RFC 3339)"),
        ("limit", "page size, 1 to 500 (50)"),
        ("continue", "the token of the previous page"),
    ],
    "/log": [("follow", "true: stream the output while the step runs")],
}


def document(routes: list[Route], version: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"{(\w+)}", route.path)
        ]
        for suffix, fields in QUERY.items():
            if route.method == "GET" and route.path.endswith(suffix):
                parameters += [
                    {"name": n, "in": "query", "description": d, "schema": {"type": "string"}} for n, d in fields
                ]
        paths.setdefault(route.path, {})[route.method.lower()] = {
            "summary": route.summary,
            "operationId": route.handler.__name__,
            "parameters": parameters,
            "x-kubernetes-access": [
                {"verb": a.verb, "group": a.group, "resource": a.resource, "subresource": a.subresource}
                for a in route.needs
            ],
            "responses": {
                "200": {"description": "OK"},
                "400": {"description": "a bad query or body; the error names the field"},
                "401": {"description": "no valid bearer token or client certificate"},
                "403": {"description": "the cluster's RBAC does not allow it; the error names the permission"},
            },
        }
    return {
        "openapi": "3.0.3",
        "info": {"title": "Ferris server", "version": version},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": paths,
    }
