"""The chart's values for the local cluster, whose pods share the host's network and have no
DNS: every port on loopback is a free one, and every address a pod or a person uses is
127.0.0.1. `ferris-devcluster up` writes them next to the cluster (values-local.yaml); the
Helm tests install with the same."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ferris_devcluster.ports import free_port


@dataclass(frozen=True)
class LocalPorts:
    runner_api: int = field(default_factory=free_port)
    health: int = field(default_factory=free_port)
    server: int = field(default_factory=free_port)
    server_health: int = field(default_factory=free_port)
    postgresql: int = field(default_factory=free_port)


def local_values(ports: LocalPorts) -> dict[str, Any]:
    return {
        "health": {"port": ports.health},
        "runnerApi": {
            "port": ports.runner_api,
            "url": f"https://127.0.0.1:{ports.runner_api}",
            "tls": {"ipAddresses": ["127.0.0.1"]},
        },
        # One server replica: its pods would share the host's ports.
        "server": {
            "replicaCount": 1,
            "port": ports.server,
            "healthPort": ports.server_health,
            "url": f"https://127.0.0.1:{ports.server}",
            "tls": {"ipAddresses": ["127.0.0.1"]},
        },
        # Used when postgresql.enabled: the evaluation database on loopback.
        "postgresql": {"host": "127.0.0.1", "port": ports.postgresql},
    }


def write_local_values(path: Path, ports: LocalPorts | None = None) -> Path:
    header = (
        "# Values for this local cluster (pods share the host's network; no DNS):\n"
        "#   helm install ferris charts/ferris -n ferris-system --create-namespace \\\n"
        f"#     --set postgresql.enabled=true -f {path}\n"
    )
    path.write_text(header + yaml.safe_dump(local_values(ports or LocalPorts()), sort_keys=False))
    return path
