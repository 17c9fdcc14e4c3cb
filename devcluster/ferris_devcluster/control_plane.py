"""The command lines of the control plane's processes, and the configuration files they read.
Pure apart from writing those files into the cluster's directory."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

from ferris_devcluster.pki import Pki

CONTROLLERS = "*,-node-lifecycle-controller,-node-ipam-controller,-cloud-node-lifecycle-controller"


def etcd(binary: str, data_dir: Path, port: int, peer_port: int) -> list[str]:
    client, peer = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{peer_port}"
    return [
        binary,
        "--name=ferris",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=ferris={peer}",
        "--unsafe-no-fsync",
        "--log-level=warn",
    ]


def kube_apiserver(
    binary: str, etcd_port: int, port: int, certs: Pki, directory: Path, audit_log: Path | None
) -> list[str]:
    return [
        binary,
        f"--etcd-servers=http://127.0.0.1:{etcd_port}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={port}",
        f"--tls-cert-file={certs.server_cert}",
        f"--tls-private-key-file={certs.server_key}",
        f"--client-ca-file={certs.ca_cert}",
        f"--service-account-key-file={certs.sa_pub}",
        f"--service-account-signing-key-file={certs.sa_key}",
        "--service-account-issuer=https://kubernetes.default.svc",
        "--authorization-mode=RBAC",
        "--service-cluster-ip-range=10.96.0.0/16",
        "--allow-privileged=true",
        "--enable-priority-and-fairness=false",
        "--endpoint-reconciler-type=none",
        f"--cert-dir={directory / 'pki'}",
        "--v=0",
        encryption_flag(directory),
        *audit_flags(directory, audit_log),
    ]


def kube_controller_manager(binary: str, kubeconfig: Path, port: int, certs: Pki) -> list[str]:
    return [
        binary,
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        f"--controllers={CONTROLLERS}",
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--service-account-private-key-file={certs.sa_key}",
        f"--root-ca-file={certs.ca_cert}",
        "--use-service-account-credentials=true",
        "--concurrent-job-syncs=20",
        "--concurrent-gc-syncs=20",
        "--v=0",
    ]


def encryption_flag(directory: Path) -> str:
    """Secrets encrypted at rest in etcd (secretbox, a key made for this cluster), as a
    production cluster should have them: a Secret deleted after ingestion would otherwise stay
    readable in etcd's history until compaction."""
    config = directory / "encryption.yaml"
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    config.write_text(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"
        "  - resources: [secrets]\n    providers:\n"
        f"      - secretbox:\n          keys:\n            - name: local\n              secret: {key}\n"
        "      - identity: {}\n"
    )
    config.chmod(0o600)
    return f"--encryption-provider-config={config}"


def audit_flags(directory: Path, audit_log: Path | None) -> list[str]:
    """Metadata-level audit of every request: which user did what to which resource."""
    if audit_log is None:
        return []
    policy = directory / "audit-policy.yaml"
    policy.write_text(
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n  - level: Metadata\n"
    )
    return [f"--audit-policy-file={policy}", f"--audit-log-path={audit_log}", "--audit-log-format=json"]
