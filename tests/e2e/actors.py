"""The people and attackers of a test as the API server knows them: ServiceAccounts bound to a
Role of exactly the verbs a case needs (never the admin), each with a kubeconfig holding a
bearer token from the TokenRequest API, as a cloud user's kubeconfig holds one."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .conftest import Ferris


@dataclass(frozen=True)
class Actor:
    ferris: Ferris
    namespace: str
    name: str
    kubeconfig: Path

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.ferris.stack.cluster.bins["kubectl"], f"--kubeconfig={self.kubeconfig}", "-n", self.namespace, *args],
            input=input,
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
        )

    def create(self, *objects: dict[str, Any]) -> None:
        self.kubectl("create", "-f", "-", input=yaml.safe_dump_all(list(objects)))

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        found = self.kubectl("get", kind, name, "-o", "json", check=False)
        if found.returncode != 0:
            assert "NotFound" in found.stderr, found.stderr
            return None
        result: dict[str, Any] = json.loads(found.stdout)
        return result

    def can(self, verb: str, resource: str) -> bool:
        return self.kubectl("auth", "can-i", verb, resource, check=False).stdout.strip() == "yes"


def least_privileged(ferris: Ferris, namespace: str, name: str, rules: list[dict[str, Any]]) -> Actor:
    """A ServiceAccount ``name`` in ``namespace`` whose only rights are ``rules`` there."""
    ferris.kubectl("create", "serviceaccount", name, "-n", namespace)
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": name, "namespace": namespace},
        "rules": rules,
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
    }
    ferris.apply(namespace, role, binding)
    kubeconfig = ferris.stack.cluster.service_account_kubeconfig(namespace, name, hours=2)
    return Actor(ferris, namespace, name, kubeconfig)


def rule(group: str, resource: str, *verbs: str) -> dict[str, Any]:
    return {"apiGroups": [group], "resources": [resource], "verbs": list(verbs)}


def run_starter(ferris: Ferris, namespace: str) -> Actor:
    """Who may read packages and start runs, and nothing more: what `ferris run` needs."""
    rules = [rule("ferris.io", "ferrispackages", "get"), rule("ferris.io", "ferrisruns", "get", "list", "create")]
    return least_privileged(ferris, namespace, "starter", rules)
