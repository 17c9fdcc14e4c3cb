"""A namespace's project secrets (FerrisProjectSecrets "project"): taken in like a package's
(``intake``), stored double-encrypted under a data key of their own (the vault, keyed by the
object's uid), the source Secret then deleted unless ``keepSource``; status shows names, count
and version, never a value."""

from __future__ import annotations

from typing import Any

from ferris_operator import metrics, model, reasons
from ferris_operator.crypto.sealing import SealingKeyRing
from ferris_operator.intake import SecretsIntake
from ferris_operator.ports import KubePort, VaultPort
from ferris_operator.problems import Problem
from ferris_operator.secrets_json import secrets_summary

# What a project's sealed text is bound to besides the namespace, and its name in the vault:
# no package can have this name (":" is not allowed in object names).
SEALED_FOR = "scope:project"


class ProjectSecretsService:
    def __init__(self, kube: KubePort, vault: VaultPort, sealing: SealingKeyRing) -> None:
        self.kube = kube
        self.vault = vault
        self.intake = SecretsIntake(kube, sealing)

    def reconcile(self, body: dict[str, Any]) -> tuple[dict[str, Any], Problem | None]:
        """The status to write, and the problem a person must see (None: Ready)."""
        meta, spec = body["metadata"], body.get("spec") or {}
        status = body.get("status") or {}
        generation, previous = meta.get("generation"), status.get("conditions")
        namespace, uid = meta["namespace"], meta["uid"]
        secrets = dict(status.get("secrets") or {})
        try:
            taken = self.intake.take(spec, secrets, namespace, SEALED_FOR, owner="a project's secrets")
        except Problem as problem:
            ready = model.condition("Ready", False, problem.reason, problem.message, generation, previous)
            return {"observedGeneration": generation, "conditions": model.merge_conditions(previous, ready)}, problem
        if taken is not None:
            version = self.vault.ingest(namespace, SEALED_FOR, uid, taken.values)
            metrics.SECRETS_INGESTED.labels("project").inc()
            secrets = secrets_summary(taken.values, version, taken.source, taken.digest, model.utcnow())
            source = spec.get("secretsFrom")
            if taken.source_uid and source and not source.get("keepSource", False):
                self.kube.delete_exact("Secret", namespace, source["secretName"], taken.source_uid)
        elif not secrets:
            secrets = {"names": [], "count": 0, "version": self.vault.ensure_package(namespace, SEALED_FOR, uid)}
        message = f"{secrets.get('count', 0)} secrets at version {secrets.get('version', 0)}"
        ready = model.condition("Ready", True, reasons.SECRETS_STORED, message, generation, previous)
        return {
            "observedGeneration": generation,
            "secrets": secrets,
            "conditions": model.merge_conditions(previous, ready),
        }, None

    def forget(self, uid: str) -> None:
        self.vault.forget(uid)
