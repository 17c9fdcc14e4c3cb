"""The objects that hold secrets beyond one package: a namespace's FerrisProjectSecrets
("project") and the cluster's FerrisPlatformSecrets. Each is taken in like a package's secrets
(``intake``), stored double-encrypted under a data key of its own (the vault, keyed by the
object's uid), the source Secret then deleted unless ``keepSource``; its readers and writers
are recorded for runs (``store/scopes``). Status shows names, count and version, never a value,
and follows what scripts write."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ferris_operator import model, reasons
from ferris_operator.bodies import ScopeBody
from ferris_operator.crypto.sealing import SealingKeyRing
from ferris_operator.ingest.intake import SecretsIntake
from ferris_operator.ingest.secrets_json import secrets_summary
from ferris_operator.ports import KubePort, ScopeStorePort, VaultPort
from ferris_operator.problems import Problem
from ferris_operator.process import metrics
from ferris_operator.records import Scope
from ferris_operator.secret_scopes.policies import scope_of

# What a project's sealed text is bound to besides the namespace, and its name in the vault:
# no package can have this name (":" is not allowed in object names).
PROJECT_SEALED_FOR = "scope:project"
PLATFORM_SEALED_NAMESPACE = ""  # a platform's sealed text is bound to no namespace...


def platform_sealed_for(name: str) -> str:
    """...but to its object's name."""
    return f"scope:platform:{name}"


@dataclass(frozen=True)
class Holder:
    """Where one scope object's secrets come from and where they are kept."""

    scope: Scope
    source_namespace: str  # where its spec.secretsFrom Secret lives
    sealed_namespace: str  # what its sealed text is bound to, with sealed_for
    sealed_for: str  # also its name in the vault

    @property
    def owner(self) -> str:
        return "a project's secrets" if self.scope.kind == "project" else "the platform's secrets"


def holder_of(body: ScopeBody, ferris_namespace: str) -> Holder:
    """A FerrisProjectSecrets (namespaced) or FerrisPlatformSecrets (cluster-scoped) as a holder.
    Pure. A platform's source Secret lives in Ferris's own namespace."""
    scope = scope_of(body)
    if scope.kind == "project":
        return Holder(scope, scope.namespace, scope.namespace, PROJECT_SEALED_FOR)
    return Holder(scope, ferris_namespace, PLATFORM_SEALED_NAMESPACE, platform_sealed_for(scope.name))


class ScopeSecretsService:
    def __init__(
        self, kube: KubePort, vault: VaultPort, sealing: SealingKeyRing, store: ScopeStorePort, ferris_namespace: str
    ) -> None:
        self.kube = kube
        self.vault = vault
        self.store = store
        self.ferris_namespace = ferris_namespace
        self.intake = SecretsIntake(kube, sealing)

    def reconcile(self, body: ScopeBody) -> tuple[dict[str, Any], Problem | None]:
        """The status to write, and the problem a person must see (None: Ready)."""
        holder = holder_of(body, self.ferris_namespace)
        scope, meta, spec = holder.scope, body["metadata"], body.get("spec") or {}
        status = body.get("status") or {}
        generation, previous = meta.get("generation"), status.get("conditions")
        secrets: dict[str, Any] = dict(status.get("secrets") or {})
        try:
            taken = self.intake.take(
                spec, secrets, holder.source_namespace, holder.sealed_for, holder.owner, holder.sealed_namespace
            )
        except Problem as problem:
            ready = model.condition("Ready", False, problem.reason, problem.message, generation, previous)
            return {"observedGeneration": generation, "conditions": model.merge_conditions(previous, ready)}, problem
        if taken is not None:
            version = self.vault.ingest(
                scope.namespace, holder.sealed_for, scope.uid, taken.values, keep_written=True, source=taken.taken_from
            )
            metrics.SECRETS_INGESTED.labels(scope.kind).inc()
            secrets = self._summary(scope.uid, version, taken.source, taken.digest)
            source = spec.get("secretsFrom")
            if taken.source_uid and source and not source.get("keepSource", False):
                self.kube.delete_exact("Secret", holder.source_namespace, source["secretName"], taken.source_uid)
        else:
            version = self.vault.ensure_package(scope.namespace, holder.sealed_for, scope.uid)
            if version != secrets.get("version"):  # a script wrote, or nothing was taken in yet
                secrets = self._summary(scope.uid, version, secrets.get("source", ""), secrets.get("sourceDigest", ""))
        self.store.register(scope)
        message = f"{secrets.get('count', 0)} secrets at version {secrets.get('version', 0)}"
        ready = model.condition("Ready", True, reasons.SECRETS_STORED, message, generation, previous)
        return {
            "observedGeneration": generation,
            "secrets": secrets,
            "conditions": model.merge_conditions(previous, ready),
        }, None

    def _summary(self, uid: str, version: int, source: str, digest: str) -> dict[str, Any]:
        stored = self.vault.read_current([uid]).get(uid)
        values = stored.values if stored is not None and stored.version == version else {}
        return secrets_summary(values, version, source, digest, model.utcnow())

    def forget(self, uid: str) -> None:
        """The scope's secrets, policy and data key go (its audit rows stay: they hold no value)."""
        self.vault.forget(uid)
