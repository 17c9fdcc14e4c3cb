"""The run bundle: a run's secrets sealed under a fresh per-run key.

The operator builds it; the runner opens it with the key mounted into its pod only. The run
UID is bound as associated data, so a bundle cannot be replayed into another run.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ferris_runner.aead import KEY_SIZE, open_blob, seal
from ferris_runner.wire import Header, Kind

BUNDLE_KEY_ID = "run"


def new_run_key() -> bytes:
    return os.urandom(KEY_SIZE)


def seal_bundle(run_key: bytes, run_uid: str, secrets: dict[str, Any]) -> bytes:
    payload = json.dumps({"secrets": secrets}, separators=(",", ":")).encode()
    return seal(run_key, Header(Kind.RUN_BUNDLE, BUNDLE_KEY_ID), payload, "bundle", run_uid)


def open_bundle(run_key: bytes, run_uid: str, blob: bytes) -> dict[str, Any]:
    payload = json.loads(open_blob(run_key, blob, Kind.RUN_BUNDLE, "bundle", run_uid))
    secrets = payload["secrets"]
    if not isinstance(secrets, dict):
        raise ValueError("bundle secrets must be an object")
    return secrets
