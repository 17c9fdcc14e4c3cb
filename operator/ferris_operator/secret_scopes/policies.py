"""Who reads and who writes a scope, as its Kubernetes object says at the moment of use.

The database keeps each scope's policy beside its values, but only as an index (which scopes may
concern a namespace): a database writer could widen a row's ``readers`` or ``writers``, or point
a project row of one namespace at another scope's uid. What Kubernetes RBAC guards is the
FerrisProjectSecrets or FerrisPlatformSecrets object itself, so a run's bundle and a script's
write take the policy from that object, read again then, and only when its uid is the row's:
a row no object stands behind is ignored (and logged), never trusted."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Protocol, cast

from ferris_operator import model
from ferris_operator.bodies import PlatformSecretsSpec, ScopeBody, scope_body
from ferris_operator.records import Scope

log = logging.getLogger("ferris.scopes")


def scope_of(body: ScopeBody) -> Scope:
    """A FerrisProjectSecrets (namespaced) or FerrisPlatformSecrets (cluster-scoped) as its
    policy. Pure. A project reads no ``readers``: its namespace is its only reader."""
    meta, spec = body["metadata"], body.get("spec") or {}
    writers = [dict(w) for w in spec.get("writers") or []]
    if meta.get("namespace"):
        return Scope(meta["uid"], "project", meta["namespace"], meta["name"], {}, writers)
    platform = cast(PlatformSecretsSpec, spec)  # a cluster-scoped holder is a FerrisPlatformSecrets
    readers = dict(platform.get("readers") or {})
    return Scope(meta["uid"], "platform", "", meta["name"], readers, writers)


def confirmed(row: Scope, body: dict[str, Any] | None) -> Scope | None:
    """The policy of the object found where ``row`` says its object is, when that object is the
    one the row was recorded for (same uid, same kind and place); None otherwise. Pure."""
    if body is None or (body.get("metadata") or {}).get("uid") != row.uid:
        return None
    scope = scope_of(scope_body(body))
    if (scope.kind, scope.namespace, scope.name) != (row.kind, row.namespace, row.name):
        return None
    return scope


class ScopeObjectsPort(Protocol):
    def get_custom(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None: ...


class ScopeObjects:
    """The scope objects behind database rows, read from the API server (one GET per row; a run
    reads none when no scope concerns its namespace). An API error propagates: the caller
    retries rather than seal a bundle with less than the run may read."""

    def __init__(self, kube: ScopeObjectsPort) -> None:
        self.kube = kube

    def confirm(self, rows: Iterable[Scope]) -> list[Scope]:
        """The rows' policies as their objects hold them now, in the rows' order; rows no object
        stands behind are left out."""
        found = []
        for row in rows:
            plural = model.PROJECT_SECRETS if row.kind == "project" else model.PLATFORM_SECRETS
            scope = confirmed(row, self.kube.get_custom(plural, row.namespace, row.name))
            if scope is None:
                log.warning(
                    "scope %s (uid %s) in the database has no such object in the cluster: ignored",
                    row.label if not row.namespace else f"{row.namespace}/{row.label}",
                    row.uid,
                )
                continue
            found.append(scope)
        return found
