"""Kubernetes API clients, configured once from in-cluster credentials or a kubeconfig."""

from __future__ import annotations

import functools

from kubernetes import client, config


@functools.cache
def api_client(pool_size: int = 64) -> client.ApiClient:
    """``pool_size`` keeps one connection per thread that calls the API (kopf's workers and the
    runner API's): with the client's default of ten, a burst opened and closed a TLS connection
    for most calls, costing the operator and the API server a handshake each time."""
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException:
        config.load_kube_config(client_configuration=configuration)
    configuration.connection_pool_maxsize = pool_size
    return client.ApiClient(configuration)


def core_api() -> client.CoreV1Api:
    return client.CoreV1Api(api_client())


def custom_api() -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client())
