"""What happens to a package: validate its scripts, ingest its secrets from either source
(encrypted into PostgreSQL, the source Secret then deleted), and report it in status."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

from ferris_ciphertext.format import CiphertextError
from ferris_operator import metrics, model, params_schema, reasons
from ferris_operator.crypto.sealing import SealingKeyRing
from ferris_operator.params_schema import ParamsError
from ferris_operator.ports import KubePort, VaultPort
from ferris_operator.problems import Problem
from ferris_operator.schedules.spec import schedule_of
from ferris_operator.scripts import ReadConfigMap, read_scripts
from ferris_operator.secrets_json import (
    MAX_ARGV_SECRETS_BYTES,
    SecretsJsonError,
    argv_bytes,
    parse_secrets_json,
    secrets_summary,
    short_secret_warnings,
)
from ferris_operator.source_secrets import read_source

__all__ = ["PackageOutcome", "PackageService", "short_secret_warnings"]

log = logging.getLogger("ferris.packages")
SOURCE_SECRET_TYPE = "ferris.io/secrets-json"  # noqa: S105 - a Secret type, set at creation


@dataclass
class PackageOutcome:
    status: dict[str, Any]
    problem: Problem | None = None
    warnings: list[str] = field(default_factory=list)


class PackageService:
    def __init__(self, kube: KubePort, vault: VaultPort, sealing: SealingKeyRing) -> None:
        self.kube = kube
        self.vault = vault
        self.sealing = sealing

    def reconcile(self, body: dict[str, Any]) -> PackageOutcome:
        meta, spec = body["metadata"], body["spec"]
        status = body.get("status") or {}
        generation = meta.get("generation")
        previous = status.get("conditions")
        secrets_status = dict(status.get("secrets") or {})
        warnings = list(status.get("warnings") or [])

        def outcome(problem: Problem) -> PackageOutcome:
            reason, message, retry = problem.reason, problem.message, problem.retry
            cond = model.condition("Ready", False, reason, message, generation, previous)
            # A problem that heals by itself is progress; one the user must fix is stalled.
            stalled = model.condition("Stalled", not retry, reason, message, generation, previous)
            reconciling = model.condition("Reconciling", retry, reason, message, generation, previous)
            return PackageOutcome(
                {
                    "observedGeneration": generation,
                    "conditions": model.merge_conditions(previous, cond, stalled, reconciling),
                },
                problem,
            )

        namespace, name, uid = meta["namespace"], meta["name"], meta["uid"]
        try:
            read_scripts(spec.get("scripts") or [], self._configmaps(namespace), at_run_start=False)
            params_schema.check_schema(spec.get("paramsSchema") or {})
            schedule_of(spec)
        except Problem as problem:
            return outcome(problem)
        except ParamsError as exc:
            return outcome(Problem(reasons.INVALID_PARAMS_SCHEMA, str(exc)))

        mask = spec.get("maskSecretsInOutput", True)
        try:
            ingested = self._ingest(namespace, name, uid, spec, secrets_status)
        except Problem as problem:
            return outcome(problem)
        if ingested is not None:
            values, source, digest, source_uid = ingested
            size = argv_bytes(values)
            if spec.get("secretsInArgv", True) and size > MAX_ARGV_SECRETS_BYTES:
                return outcome(
                    Problem(
                        reasons.SECRETS_TOO_LARGE_FOR_ARGV,
                        f"the secrets take {size} bytes in sys.argv[1], over the {MAX_ARGV_SECRETS_BYTES} that fit "
                        "beside the params in one argument (Linux allows 128 KiB); set spec.secretsInArgv: false "
                        "(scripts read them through ferris_ef, unchanged) or split the package. Nothing was stored",
                    )
                )
            version = self.vault.ingest(namespace, name, uid, values)
            metrics.SECRETS_INGESTED.labels(source.split(":", 1)[0]).inc()
            secrets_status = secrets_summary(values, version, source, digest, model.utcnow())
            warnings = short_secret_warnings(values) if mask else []
            source_secret = spec.get("secretsFrom")
            if source_uid and source_secret and not source_secret.get("keepSource", False):
                # Exactly the Secret that was read: one created since under the name stays.
                self.kube.delete_exact("Secret", namespace, source_secret["secretName"], source_uid)
        elif not secrets_status:
            version = self.vault.ensure_package(namespace, name, uid)
            secrets_status = {"names": [], "count": 0, "version": version}
        ready = model.condition(
            "Ready",
            True,
            reasons.READY,
            f"{secrets_status.get('count', 0)} secrets at version {secrets_status.get('version', 0)}",
            generation,
            previous,
        )
        new_status = {
            "observedGeneration": generation,
            "secrets": secrets_status,
            "warnings": warnings,
            "conditions": model.merge_conditions(
                previous,
                ready,
                model.condition("Stalled", False, reasons.READY, "", generation, previous),
                model.condition("Reconciling", False, reasons.READY, "", generation, previous),
            ),
        }
        fresh_warnings = [w for w in warnings if w not in (status.get("warnings") or [])]
        return PackageOutcome(new_status, warnings=fresh_warnings)

    def _configmaps(self, namespace: str) -> ReadConfigMap:
        return lambda name: self.kube.read("ConfigMap", namespace, name)

    def _ingest(
        self, namespace: str, name: str, uid: str, spec: dict[str, Any], current: dict[str, Any]
    ) -> tuple[dict[str, Any], str, str, str | None] | None:
        """The secrets to ingest now, with their source, digest and the source Secret's UID;
        None when nothing changed."""
        sealed = spec.get("sealedSecrets")
        if sealed:
            digest = "sha256:" + hashlib.sha256(sealed.encode()).hexdigest()
            if current.get("sourceDigest") == digest:
                return None
            try:
                raw = self.sealing.open(sealed, namespace, name)
            except CiphertextError as exc:
                raise Problem(reasons.SEALED_SECRETS_INVALID, f"spec.sealedSecrets: {exc}") from None
            return self._parse(raw, "spec.sealedSecrets"), "sealedSecrets", digest, None
        source = spec.get("secretsFrom")
        if not source:
            return None
        secret_name, key = source["secretName"], source.get("key", "secrets.json")
        read = read_source(
            self.kube.read("Secret", namespace, secret_name),
            secret_name,
            SOURCE_SECRET_TYPE,
            current,
            Problem(
                reasons.SECRET_SOURCE_NOT_FOUND,
                f"spec.secretsFrom: Secret {secret_name} not found in namespace {namespace}; create it with key {key}",
                retry=True,
            ),
            lambda found_type: Problem(
                reasons.SECRET_SOURCE_NOT_MARKED,
                f"spec.secretsFrom: Secret {secret_name} is of type {found_type}; Ferris reads and "
                f"deletes only Secrets of type {SOURCE_SECRET_TYPE}, so that a package cannot take another "
                f"Secret of the namespace. Create it with: kubectl create secret generic {secret_name} "
                f"--type={SOURCE_SECRET_TYPE} --from-file={key}",
            ),
        )
        if read is None:
            return None
        if key not in read.data:
            present = ", ".join(sorted(read.data)) or "none"
            raise Problem(
                reasons.SECRET_KEY_MISSING,
                f"spec.secretsFrom: Secret {secret_name} has no key {key!r} "
                f"(keys present: {present}); set spec.secretsFrom.key or add the key",
            )
        return self._parse(read.data[key], f"Secret {secret_name} key {key}"), read.label, read.digest, read.uid

    @staticmethod
    def _parse(raw: bytes, where: str) -> dict[str, Any]:
        try:
            return parse_secrets_json(raw)
        except SecretsJsonError as exc:
            raise Problem(reasons.INVALID_SECRETS_JSON, f"{where}: {exc}") from None
