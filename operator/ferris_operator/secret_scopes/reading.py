"""The scoped secrets a run reads, at its start: the scopes around its namespace as the database
indexes them, each confirmed by its object and read with the object's readers (policies.py),
the namespace's labels read only when a selector needs them, the values from the vault."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

from ferris_operator.ports import ScopeStorePort, VaultPort
from ferris_operator.records import ScopedSecrets
from ferris_operator.secret_scopes.policies import ScopeObjects
from ferris_operator.secret_scopes.resolve import reads, resolve


class ScopeReader:
    def __init__(
        self,
        store: ScopeStorePort,
        vault: VaultPort,
        namespace_labels: Callable[[str], dict[str, str]],
        objects: ScopeObjects,
    ) -> None:
        self.store = store
        self.objects = objects
        self.vault = vault
        self.namespace_labels = namespace_labels

    def for_run(self, namespace: str, package_names: Iterable[str]) -> ScopedSecrets:
        labels = functools.cache(lambda: self.namespace_labels(namespace))
        scopes = self.objects.confirm(self.store.around(namespace))
        readable = [scope for scope in scopes if reads(scope, namespace, labels)]
        stored = self.vault.read_current([scope.uid for scope in readable])
        return resolve(
            package_names,
            ((scope, stored[scope.uid].values, stored[scope.uid].version) for scope in readable if scope.uid in stored),
        )
