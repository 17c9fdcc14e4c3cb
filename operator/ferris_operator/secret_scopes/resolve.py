"""Which scopes a run may read and write, and how a name resolves: package, then project,
then platform, as the Ferris executor's ``context.secrets.get``. Pure."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ferris_operator.records import Scope, ScopedSecrets

PACKAGE = "package"


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels and matchExpressions) against ``labels``; the
    empty selector matches everything, as in Kubernetes."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
        if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False  # unknown: match nothing rather than too much
    return True


def reads(scope: Scope, namespace: str, labels: Callable[[], Mapping[str, str]]) -> bool:
    """Whether runs of ``namespace`` read ``scope``. A project is its namespace's; the
    platform's only where ``readers`` names the namespace or selects its labels (by default
    no namespace). ``labels`` is asked only when a selector needs them."""
    if scope.kind == "project":
        return scope.namespace == namespace
    if namespace in (scope.readers.get("namespaces") or []):
        return True
    selector = scope.readers.get("namespaceSelector")
    return selector is not None and selector_matches(selector, labels())


def writes(scope: Scope, namespace: str, package: str, name: str | None = None) -> bool:
    """Whether runs of ``package`` in ``namespace`` may write into ``scope`` (the secret
    ``name``, when given): only where its ``writers`` name the package (and, for the platform,
    the namespace), and, where a writer lists ``names``, only those. Reading is not needed to
    write, nor implied by it."""
    if scope.kind == "project" and scope.namespace != namespace:
        return False
    return any(
        (scope.kind == "project" or w.get("namespace") == namespace)
        and w.get("package") == package
        and (name is None or not w.get("names") or name in w["names"])
        for w in scope.writers
    )


def write_target(
    scopes: Iterable[Scope], context: str, namespace: str, package: str, name: str | None = None
) -> Scope | None:
    """The scope a ``context.secrets.set(name, ..., context=...)`` goes to: the namespace's
    project, or the first platform scope (by name) whose writers name this package (and the
    secret, where a writer lists names); None: refused."""
    for scope in scopes:
        if scope.kind == context and writes(scope, namespace, package, name):
            return scope
    return None


def resolve(package_names: Iterable[str], readable: Iterable[tuple[Scope, Mapping[str, Any], int]]) -> ScopedSecrets:
    """Merge the readable scopes (project first, then platform scopes by name; each with its
    values and version): a name resolves to the first that has it."""
    sources = {name: PACKAGE for name in package_names}
    project: dict[str, Any] = {}
    platform: dict[str, Any] = {}
    versions: dict[str, int] = {}
    for scope, values, version in readable:
        versions[scope.label] = version
        into = project if scope.kind == "project" else platform
        for name, value in values.items():
            if name not in into:
                into[name] = value
            sources.setdefault(name, scope.label)
    return ScopedSecrets(project, platform, sources, versions)
