"""Secrets upload: a secrets.json from a person goes into the vault, encrypted, and nowhere else
(no Kubernetes object, no value in a log line); the package's status gets names, count, version
and who uploaded them, an Event on the package and a log line say who did it and when. Only
for packages that declare no source of their own: a secretsFrom or sealedSecrets would replace
an upload at its next reconcile, silently."""

from __future__ import annotations

import logging
from typing import Any

from ferris_operator import model, reasons
from ferris_operator.ingest import secrets_json
from ferris_operator.ports import KubePort, VaultPort
from ferris_operator.records import User

SOURCE = "upload"
log = logging.getLogger("ferris.server")


class UploadRefused(Exception):
    """Nothing was stored; ``status`` is the HTTP answer, the text names the fix."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def upload(kube: KubePort, vault: VaultPort, namespace: str, name: str, raw: bytes, user: User) -> dict[str, Any]:
    found = kube.get_package(namespace, name)
    if found is None:
        raise UploadRefused(404, f"no FerrisPackage {name} in namespace {namespace}")
    spec = found.get("spec") or {}
    declared = "secretsFrom" if spec.get("secretsFrom") else "sealedSecrets" if spec.get("sealedSecrets") else None
    if declared:
        raise UploadRefused(
            409,
            f"FerrisPackage {name} takes its secrets from spec.{declared}, which would replace an upload; "
            f"change them there, or remove spec.{declared} to manage them here",
        )
    try:
        values = secrets_json.parse_secrets_json(raw)
    except secrets_json.SecretsJsonError as exc:
        raise UploadRefused(400, str(exc)) from None
    size = secrets_json.argv_bytes(values)
    if spec.get("secretsInArgv", True) and size > secrets_json.MAX_ARGV_SECRETS_BYTES:
        raise UploadRefused(
            400,
            f"the secrets take {size} bytes in sys.argv[1], over {secrets_json.MAX_ARGV_SECRETS_BYTES}; "
            "set spec.secretsInArgv: false or split the package. Nothing was stored",
        )
    version = vault.ingest(namespace, name, found["metadata"]["uid"], values)
    summary = secrets_json.secrets_summary(values, version, SOURCE, f"version:{version}", model.utcnow())
    warnings = secrets_json.short_secret_warnings(values) if spec.get("maskSecretsInOutput", True) else []
    summary["uploadedBy"] = user.name
    kube.patch_status(model.PACKAGES, namespace, name, {"secrets": summary, "warnings": warnings})
    said = f"user {user.name!r} uploaded {len(values)} secrets (version {version}) through the Ferris server"
    kube.event(found, "FerrisPackage", reasons.SECRETS_UPLOADED, said, "Normal")
    log.info("FerrisPackage %s/%s: %s", namespace, name, said)
    return {"names": summary["names"], "count": summary["count"], "version": version, "uploadedBy": user.name}
