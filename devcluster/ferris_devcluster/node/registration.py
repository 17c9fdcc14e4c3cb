"""The process node's Node object: registered once with its capacity and a Ready condition, and
read back for `kubectl cordon`."""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from ferris_devcluster.node import status as pod_status


def register(core: client.CoreV1Api, name: str) -> None:
    body = client.V1Node(
        metadata=client.V1ObjectMeta(
            name=name,
            labels={"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "type": "process-node"},
        )
    )
    with contextlib.suppress(ApiException):
        core.create_node(body)
    capacity = {"cpu": str(os.cpu_count() or 2), "memory": "16Gi", "pods": "1000"}
    core.patch_node_status(
        name,
        {
            "status": {
                "capacity": capacity,
                "allocatable": capacity,
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "ProcessNodeReady",
                        "message": "process node is running pods as local processes",
                        "lastHeartbeatTime": pod_status.now(),
                        "lastTransitionTime": pod_status.now(),
                    }
                ],
                "addresses": [
                    {"type": "InternalIP", "address": "127.0.0.1"},
                    {"type": "Hostname", "address": name},
                ],
                "nodeInfo": {
                    "kubeletVersion": "process-node",
                    "containerRuntimeVersion": "process://local",
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                    "kernelVersion": os.uname().release,
                    "osImage": "process-node",
                    "kubeProxyVersion": "",
                    "machineID": "",
                    "systemUUID": "",
                    "bootID": "",
                },
            }
        },
    )


def cordoned(core: client.CoreV1Api, name: str) -> bool | None:
    """Whether the Node is cordoned (spec.unschedulable); None when it cannot be read now."""
    try:
        response: Any = core.read_node(name, _preload_content=False)
    except ApiException:
        return None
    return bool(json.loads(response.data)["spec"].get("unschedulable"))
