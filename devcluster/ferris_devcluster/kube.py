"""Kubernetes clients bound to one kubeconfig (several clusters may live in one process)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kubernetes import client, config


@dataclass(frozen=True)
class Clients:
    api: client.ApiClient

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def batch(self) -> client.BatchV1Api:
        return client.BatchV1Api(self.api)

    @property
    def rbac(self) -> client.RbacAuthorizationV1Api:
        return client.RbacAuthorizationV1Api(self.api)

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)


def client_for(kubeconfig: Path) -> Clients:
    return Clients(config.new_client_from_config(config_file=str(kubeconfig)))
