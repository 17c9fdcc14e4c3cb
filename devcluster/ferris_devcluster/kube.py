"""Kubernetes clients bound to one kubeconfig (several clusters may live in one process)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch


class RawWatch(watch.Watch):
    """A watch whose events carry plain JSON objects. The client's model classes cost
    milliseconds per event, and the process node and the benchmark share the machine with
    everything they measure."""

    def __init__(self) -> None:
        watch.Watch.__init__(self)

    def get_return_type(self, func: Any) -> None:
        return None

    def stream(self, func: Any, *args: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
        yield from watch.Watch.stream(self, func, *args, **kwargs)


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
