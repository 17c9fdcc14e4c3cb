"""A container's environment, resolved as a kubelet resolves it."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

Fetch = Callable[[str, str], dict[str, Any] | None]  # (kind, name) -> object dict or None

REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


class EnvError(Exception):
    """CreateContainerConfigError: a referenced Secret, ConfigMap or key does not exist."""


def field_value(pod: dict[str, Any], path: str) -> str:
    meta, spec = pod["metadata"], pod["spec"]
    values = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", "default"),
        "spec.nodeName": spec.get("nodeName", ""),
        "status.podIP": "127.0.0.1",
        "status.hostIP": "127.0.0.1",
    }
    match = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    if path not in values:
        raise EnvError(f"unsupported fieldRef {path!r}")
    return str(values[path])


def _from_ref(ref: dict[str, Any], kind: str, fetch: Fetch) -> str | None:
    obj = fetch(kind, ref["name"])
    optional = bool(ref.get("optional"))
    if obj is None:
        if optional:
            return None
        raise EnvError(f'{kind.lower()} "{ref["name"]}" not found')
    if kind == "Secret":
        data = {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
    else:
        data = dict(obj.get("data") or {})
    if ref["key"] not in data:
        if optional:
            return None
        raise EnvError(f"couldn't find key {ref['key']} in {kind} {obj['metadata']['namespace']}/{ref['name']}")
    return str(data[ref["key"]])


def resolve_env(pod: dict[str, Any], container: dict[str, Any], fetch: Fetch) -> dict[str, str]:
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            if key in source:
                obj = fetch(kind, source[key]["name"])
                if obj is None:
                    if source[key].get("optional"):
                        continue
                    raise EnvError(f'{kind.lower()} "{source[key]["name"]}" not found')
                for key_name, raw in (obj.get("data") or {}).items():
                    text = base64.b64decode(raw).decode() if kind == "Secret" else raw
                    env[source.get("prefix", "") + key_name] = str(text)
    for var in container.get("env") or []:
        name = var["name"]
        if "valueFrom" not in var:
            env[name] = REFERENCE.sub(lambda m: env.get(m.group(1), m.group(0)), var.get("value", ""))
            continue
        source = var["valueFrom"]
        value: str | None
        if "secretKeyRef" in source:
            value = _from_ref(source["secretKeyRef"], "Secret", fetch)
        elif "configMapKeyRef" in source:
            value = _from_ref(source["configMapKeyRef"], "ConfigMap", fetch)
        elif "fieldRef" in source:
            value = field_value(pod, source["fieldRef"]["fieldPath"])
        else:
            raise EnvError(f"env {name}: unsupported valueFrom {sorted(source)}")
        if value is not None:
            env[name] = value
    return env
