"""What happens to a package: validate its scripts, ingest its secrets from either source
(encrypted into PostgreSQL, the source Secret then deleted), and report it in status."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ferris_operator import model, reasons
from ferris_operator.bodies import PackageBody
from ferris_operator.crypto.sealing import SealingKeyRing
from ferris_operator.ingest.intake import SOURCE_SECRET_TYPE, SecretsIntake
from ferris_operator.ingest.secrets_json import (
    MAX_ARGV_SECRETS_BYTES,
    argv_bytes,
    secrets_summary,
    short_secret_warnings,
)
from ferris_operator.packages import params_schema
from ferris_operator.packages.params_schema import ParamsError
from ferris_operator.packages.scripts import ReadConfigMap, read_scripts
from ferris_operator.ports import KubePort, VaultPort
from ferris_operator.problems import MasterKeyMismatch, Problem
from ferris_operator.process import metrics
from ferris_operator.schedules.spec import schedule_of

__all__ = ["SOURCE_SECRET_TYPE", "PackageOutcome", "PackageService", "short_secret_warnings"]

log = logging.getLogger("ferris.packages")


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
        self.intake = SecretsIntake(kube, sealing)

    def reconcile(self, body: PackageBody) -> PackageOutcome:
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

        namespace = meta["namespace"]
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
            return self._store(body, secrets_status, warnings, mask, outcome)
        except MasterKeyMismatch as mismatch:
            return outcome(Problem(reasons.MASTER_KEY_MISMATCH, str(mismatch)))

    def _store(
        self,
        body: PackageBody,
        secrets_status: dict[str, Any],
        warnings: list[str],
        mask: bool,
        outcome: Callable[[Problem], PackageOutcome],
    ) -> PackageOutcome:
        meta, spec = body["metadata"], body["spec"]
        namespace, name, uid = meta["namespace"], meta["name"], meta["uid"]
        generation, previous = meta.get("generation"), (body.get("status") or {}).get("conditions")
        try:
            ingested = self.intake.take(spec, secrets_status, namespace, name)
        except Problem as problem:
            return outcome(problem)
        if ingested is not None:
            values, source, digest, source_uid = ingested.values, ingested.source, ingested.digest, ingested.source_uid
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
            version = self.vault.ingest(namespace, name, uid, values, source=ingested.taken_from)
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
        else:
            self.vault.verify(uid)  # a database restored beside another master key shows here
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
        fresh_warnings = [w for w in warnings if w not in ((body.get("status") or {}).get("warnings") or [])]
        return PackageOutcome(new_status, warnings=fresh_warnings)

    def _configmaps(self, namespace: str) -> ReadConfigMap:
        return lambda name: self.kube.read("ConfigMap", namespace, name)
