"""The scoped secrets a run reads, at its start: the scopes around its namespace from the
database, readers applied (the namespace's labels read only when a selector needs them), the
values from the vault."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

from ferris_operator.ports import ScopeStorePort, VaultPort
from ferris_operator.secret_scopes.resolve import ScopedSecrets, reads, resolve


class ScopeReader:
    def __init__(
        self, store: ScopeStorePort, vault: VaultPort, namespace_labels: Callable[[str], dict[str, str]]
    ) -> None:
        self.store = store
        self.vault = vault
        self.namespace_labels = namespace_labels

    def for_run(self, namespace: str, package_names: Iterable[str]) -> ScopedSecrets:
        labels = functools.cache(lambda: self.namespace_labels(namespace))
        readable = [scope for scope in self.store.around(namespace) if reads(scope, namespace, labels)]
        stored = self.vault.read_current([scope.uid for scope in readable])
        return resolve(
            package_names,
            ((scope, stored[scope.uid].values, stored[scope.uid].version) for scope in readable if scope.uid in stored),
        )
