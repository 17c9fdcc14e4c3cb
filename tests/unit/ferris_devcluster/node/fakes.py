"""A pod and the objects it refers to, as the process node's unit tests read them."""

from __future__ import annotations

import base64
from typing import Any

POD: dict[str, Any] = {
    "metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
    "spec": {"serviceAccountName": "sa", "containers": []},
}
OBJECTS: dict[tuple[str, str], dict[str, Any]] = {
    ("Secret", "s"): {"metadata": {"namespace": "ns"}, "data": {"k": base64.b64encode(b"secret!").decode()}},
    ("ConfigMap", "c"): {"metadata": {"namespace": "ns"}, "data": {"a": "1", "b": "2"}},
}


def fetch(kind: str, name: str) -> dict[str, Any] | None:
    return OBJECTS.get((kind, name))
