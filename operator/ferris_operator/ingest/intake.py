"""Secrets taken in from either source, for whatever holds them (a package, a project's
secrets): a sealed text bound to its owner, or a Secret of type ``ferris.io/secrets-json``
holding secrets.json. Returns what to store, or None when nothing changed; a problem names the
field and the fix."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ferris_ciphertext.format import CiphertextError
from ferris_operator import reasons
from ferris_operator.crypto.sealing import SealingKeyRing
from ferris_operator.ingest.secrets_json import SecretsJsonError, parse_secrets_json
from ferris_operator.ingest.source_secrets import read_source
from ferris_operator.ports import KubePort
from ferris_operator.problems import Problem

SOURCE_SECRET_TYPE = "ferris.io/secrets-json"  # noqa: S105 - a Secret type, set at creation


@dataclass(frozen=True)
class Intake:
    values: dict[str, Any]
    source: str  # "sealedSecrets" or "secret:<name>"
    digest: str  # of the sealed text, or the Secret's resourceVersion
    source_uid: str | None  # the Secret read, for the delete that follows (None: sealed)

    @property
    def taken_from(self) -> str:
        """What was taken in, exactly (the vault stores one version per such source)."""
        return f"{self.source} {self.source_uid or '-'} {self.digest}"


class SecretsIntake:
    def __init__(self, kube: KubePort, sealing: SealingKeyRing) -> None:
        self.kube = kube
        self.sealing = sealing

    def take(
        self,
        spec: Mapping[str, Any],
        current: Mapping[str, Any],
        namespace: str,
        sealed_for: str,
        owner: str = "a package",
        sealed_namespace: str | None = None,
    ) -> Intake | None:
        """From ``spec.sealedSecrets`` (opened only as sealed for ``sealed_namespace``, by
        default ``namespace``, and ``sealed_for``) or ``spec.secretsFrom`` (a Secret of
        ``namespace``); ``current`` is the owner's status.secrets."""
        sealed = spec.get("sealedSecrets")
        if sealed:
            digest = "sha256:" + hashlib.sha256(sealed.encode()).hexdigest()
            if current.get("sourceDigest") == digest:
                return None
            bound_to = namespace if sealed_namespace is None else sealed_namespace
            try:
                raw = self.sealing.open(sealed, bound_to, sealed_for)
            except CiphertextError as exc:
                raise Problem(reasons.SEALED_SECRETS_INVALID, f"spec.sealedSecrets: {exc}") from None
            return Intake(_parse(raw, "spec.sealedSecrets"), "sealedSecrets", digest, None)
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
                f"deletes only Secrets of type {SOURCE_SECRET_TYPE}, so that {owner} cannot take another "
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
        values = _parse(read.data[key], f"Secret {secret_name} key {key}")
        return Intake(values, read.label, read.digest, read.uid)


def _parse(raw: bytes, where: str) -> dict[str, Any]:
    try:
        return parse_secrets_json(raw)
    except SecretsJsonError as exc:
        raise Problem(reasons.INVALID_SECRETS_JSON, f"{where}: {exc}") from None
