"""Pure builders of a run's children: the run-key Secret, the bundle ConfigMap (sealed secrets
and the run document) and the Job, which mounts the package's shared content objects
(``package_content.py``). Every child is owned by the FerrisRun, with a deterministic name."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from ferris_ciphertext.aead import KEY_SIZE
from ferris_operator import model, reasons
from ferris_operator.bodies import PackageBody
from ferris_operator.problems import Problem
from ferris_operator.queues.lanes import Placement
from ferris_wire.runner_api import RUN_DOCUMENT_FILE, ParamFile, RunDocument

RUNNER_DIR = "/var/run/ferris"
KEY_DIR = f"{RUNNER_DIR}/key"
BUNDLE_DIR = f"{RUNNER_DIR}/bundle"
SCRIPTS_DIR = f"{RUNNER_DIR}/scripts"
WORK_DIR = "/ferris/work"
RUNNER_UID = 65532


@dataclass(frozen=True)
class RunRef:
    namespace: str
    name: str
    uid: str

    def owner_reference(self) -> dict[str, Any]:
        return {
            "apiVersion": f"{model.GROUP}/{model.VERSION}",
            "kind": "FerrisRun",
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }

    def labels(self, package: str, component: str) -> dict[str, str]:
        return {
            **model.MANAGED_BY,
            model.LABEL_RUN: self.name,
            model.LABEL_RUN_UID: self.uid,
            model.LABEL_PACKAGE: package,
            model.LABEL_COMPONENT: component,
        }

    def metadata(self, name: str, package: str, component: str) -> dict[str, Any]:
        return {
            "name": name,
            "namespace": self.namespace,
            "labels": self.labels(package, component),
            "ownerReferences": [self.owner_reference()],
        }


def key_secret(run: RunRef, package: str, run_key: bytes, token: str) -> dict[str, Any]:
    """The run key and the runner API token: the only secret material the pod receives."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": run.metadata(model.key_secret_name(run.name), package, "run-key"),
        "data": {"run.key": base64.b64encode(run_key).decode(), "token": base64.b64encode(token.encode()).decode()},
    }


def run_document(
    run: RunRef,
    package: PackageBody,
    params: dict[str, Any],
    secrets_version: int,
    api_ca: str | None = None,
    first_step: int = 0,
    content_keys: list[list[str]] | None = None,
    param_files: list[ParamFile] | None = None,
) -> RunDocument:
    """Non-secret description of the run that the runner reads next to the bundle (its digest is
    sealed in the bundle, so the CA that the runner trusts for the runner API cannot be swapped)."""
    spec = package["spec"]
    document: RunDocument = {
        "runId": run.uid,
        "runName": run.name,
        "namespace": run.namespace,
        "packageName": package["metadata"]["name"],
        "packageId": package["metadata"]["uid"],
        "params": params,
        "config": spec.get("config") or {},
        "steps": model.steps_of(spec),
        "files": [s["name"] for s in spec["scripts"]],
        "contentKeys": content_keys if content_keys is not None else [[] for _ in spec["scripts"]],
        "maskSecrets": spec.get("maskSecretsInOutput", True),
        "secretsInArgv": spec.get("secretsInArgv", True),
        "secretsVersion": secrets_version,
    }
    if param_files:
        document["paramFiles"] = sorted(param_files, key=lambda f: f["param"])
    if sql := spec.get("sql"):
        document["sqlConnectionSecret"] = sql["connectionSecret"]
        document["sqlTransaction"] = sql.get("transaction", "single")
        document["sqlMaxRows"] = sql.get("maxRows", 20)
    if api_ca:
        document["apiCA"] = api_ca
    if first_step:
        document["firstStep"] = first_step
    return document


def script_key(index: int) -> str:
    """The sealed name of the index-th file's digest: file names may clash with ``run.json``."""
    return f"script.{index}"


def document_text(document: RunDocument) -> str:
    return json.dumps(document, sort_keys=True)


def sealed_files(document: RunDocument, scripts: list[tuple[str, bytes]]) -> dict[str, str | bytes]:
    """What the bundle seals the digests of: ``run.json`` and every file of the package, by key.
    The files travel in the package's shared content objects, the run's document beside the
    bundle; the runner refuses any that differs."""
    files: dict[str, str | bytes] = {RUN_DOCUMENT_FILE: document_text(document)}
    files.update({script_key(i): content for i, (_, content) in enumerate(scripts)})
    return files


def bundle_configmap(run: RunRef, package: str, bundle: bytes, document: RunDocument) -> dict[str, Any]:
    """What the runner reads besides its key and the package's files, in one object: the run's
    document and its sealed bundle (the secrets the run may read, the digests of everything)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": run.metadata(model.bundle_name(run.name), package, "run-bundle"),
        "data": {RUN_DOCUMENT_FILE: document_text(document)},
        "binaryData": {"bundle": base64.b64encode(bundle).decode()},
        "immutable": True,
    }


def read_key_secret(secret: dict[str, Any]) -> tuple[bytes, str]:
    """(run key, token) of a run-key Secret that the run owns; Problem when it was altered."""
    meta = secret["metadata"]
    try:
        data = secret.get("data") or {}
        run_key = base64.b64decode(data["run.key"], validate=True)
        token = base64.b64decode(data["token"], validate=True).decode("ascii")
    except (KeyError, TypeError, ValueError, binascii.Error):
        run_key, token = b"", ""
    if len(run_key) != KEY_SIZE or not token:
        raise Problem(
            reasons.RUN_KEY_INVALID,
            f"Secret {meta['namespace']}/{meta['name']} holds no valid run.key and token (it was changed); "
            "the run cannot start safely: create a new FerrisRun",
        )
    return run_key, token


def scripts_volume(objects: list[str]) -> dict[str, Any]:
    """The package's shared content objects, whole, as one projected volume: each part under its
    own key (no two objects hold the same one); the run document says which make each file."""
    return {"name": "scripts", "projected": {"sources": [{"configMap": {"name": name}} for name in objects]}}


def job(
    run: RunRef,
    package: PackageBody,
    image: str,
    api_url: str,
    timeout_seconds: int,
    content: list[str],
    placement: Placement | None = None,
) -> dict[str, Any]:
    """With a ``placement`` the Job is made suspended, in a Kueue queue and lane: Kueue admits it
    when there is room (there may be no admission webhook to suspend it: it must be made so)."""
    spec = package["spec"]
    runner = spec.get("runner") or {}
    name = package["metadata"]["name"]
    env = [
        {"name": "FERRIS_RUN_UID", "value": run.uid},
        {"name": "FERRIS_API_URL", "value": api_url},
        {"name": "FERRIS_RUN_DIR", "value": RUNNER_DIR},
        {"name": "FERRIS_WORK_DIR", "value": WORK_DIR},
    ] + [{"name": e["name"], "value": e["value"]} for e in runner.get("env") or []]
    container: dict[str, Any] = {
        "name": "runner",
        "image": runner.get("image") or image,
        "imagePullPolicy": "IfNotPresent",
        "env": env,
        "workingDir": WORK_DIR,
        "volumeMounts": [
            {"name": "run-key", "mountPath": KEY_DIR, "readOnly": True},
            {"name": "bundle", "mountPath": BUNDLE_DIR, "readOnly": True},
            {"name": "scripts", "mountPath": SCRIPTS_DIR, "readOnly": True},
            {"name": "work", "mountPath": WORK_DIR},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - a private emptyDir
        ],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": RUNNER_UID,
            "capabilities": {"drop": ["ALL"]},
        },
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if runner.get("resources"):
        container["resources"] = runner["resources"]
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUNNER_UID,
            "runAsGroup": RUNNER_UID,
            "fsGroup": RUNNER_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [
            {"name": "run-key", "secret": {"secretName": model.key_secret_name(run.name), "defaultMode": 0o400}},
            {
                "name": "bundle",
                "configMap": {
                    "name": model.bundle_name(run.name),
                    "items": [{"key": "run.json", "path": "run.json"}, {"key": "bundle", "path": "bundle"}],
                },
            },
            scripts_volume(content),
            {"name": "work", "emptyDir": {}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }
    for field in ("serviceAccountName", "nodeSelector", "tolerations"):
        if runner.get(field):
            pod_spec[field] = runner[field]
    labels = run.labels(name, "runner")
    made: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": run.metadata(model.job_name(run.name), name, "runner"),
        "spec": {
            "backoffLimit": 0,
            # Counts from admission: a suspended Job's deadline starts when it is resumed.
            "activeDeadlineSeconds": timeout_seconds,
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }
    if placement is not None:
        made["metadata"]["labels"].update(placement.labels)
        made["spec"]["suspend"] = True
    return made
