"""The run bundle: a run's secrets sealed under a fresh per-run key, with the digests of every
file the runner reads next to it (``run.json`` and the scripts).

The operator builds it; the runner opens it with the key mounted into its pod only. The run
UID is bound as associated data, so a bundle cannot be replayed into another run, and the
digests are inside the authenticated payload, so a bundle ConfigMap rebuilt around the real
sealed bundle with other scripts or another ``run.json`` fails closed.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ferris_ciphertext.aead import KEY_SIZE, open_blob, seal
from ferris_ciphertext.format import CiphertextError, Header, Kind

BUNDLE_KEY_ID = "run"


class BundleMismatch(CiphertextError):
    """A file next to the bundle is not the one the bundle was sealed with."""


def new_run_key() -> bytes:
    return os.urandom(KEY_SIZE)


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


@dataclass(frozen=True)
class Bundle:
    secrets: dict[str, Any]
    files: dict[str, str]  # file key -> SHA-256 of its bytes
    scopes: dict[str, dict[str, Any]] = field(default_factory=dict)  # "project"/"platform" -> secrets
    params: dict[str, Any] = field(default_factory=dict)  # the run's secret params (paramsSchema secret: true)

    def __repr__(self) -> str:  # never print values
        scoped = {scope: sorted(values) for scope, values in self.scopes.items()}
        return (
            f"Bundle(secrets={sorted(self.secrets)}, scopes={scoped}, params={sorted(self.params)},"
            f" files={sorted(self.files)})"
        )

    def verify(self, key: str, content: bytes) -> bytes:
        """``content`` if it is the file ``key`` the bundle was sealed with; else BundleMismatch."""
        if self.files.get(key) != digest(content):
            raise BundleMismatch(f"{key} is not the file this run was sealed with (changed or replaced)")
        return content


def seal_bundle(
    run_key: bytes,
    run_uid: str,
    secrets: dict[str, Any],
    files: Mapping[str, str | bytes],
    scopes: Mapping[str, dict[str, Any]] | None = None,
    params: Mapping[str, Any] | None = None,
) -> bytes:
    """Seal ``secrets`` (and the project's and platform's the run may read, ``scopes``, and the
    run's secret ``params``) with the digests of ``files`` (key -> content, text as UTF-8, as the
    runner will read it)."""
    digests = {
        key: digest(content if isinstance(content, bytes) else content.encode()) for key, content in files.items()
    }
    payload: dict[str, Any] = {"secrets": secrets, "files": digests}
    if scopes:
        payload["scopes"] = dict(scopes)
    if params:
        payload["params"] = dict(params)
    return seal(
        run_key,
        Header(Kind.RUN_BUNDLE, BUNDLE_KEY_ID),
        json.dumps(payload, separators=(",", ":")).encode(),
        "bundle",
        run_uid,
    )


def open_bundle(run_key: bytes, run_uid: str, blob: bytes) -> Bundle:
    payload = json.loads(open_blob(run_key, blob, Kind.RUN_BUNDLE, "bundle", run_uid))
    secrets, files, scopes = payload.get("secrets"), payload.get("files"), payload.get("scopes", {})
    params = payload.get("params", {})
    if not isinstance(secrets, dict) or not isinstance(files, dict):
        raise ValueError("bundle must hold an object of secrets and an object of file digests")
    if not isinstance(scopes, dict) or not all(isinstance(values, dict) for values in scopes.values()):
        raise ValueError("bundle scopes must be an object of objects of secrets")
    if not isinstance(params, dict):
        raise ValueError("bundle params must be an object")
    return Bundle(secrets, {str(k): str(v) for k, v in files.items()}, {str(k): v for k, v in scopes.items()}, params)
