"""Kubernetes API clients, configured once from in-cluster credentials or a kubeconfig."""

from __future__ import annotations

import functools

from kubernetes import client, config


@functools.cache
def api_client() -> client.ApiClient:
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return client.ApiClient()


def core_api() -> client.CoreV1Api:
    return client.CoreV1Api(api_client())


def custom_api() -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client())
