"""A source Secret read for ingestion (a package's secrets.json, an event source's key): only a
Secret of Ferris's own type, and only when it changed since the last ingestion. Pure."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ferris_operator.problems import Problem


@dataclass(frozen=True)
class SourceSecret:
    label: str  # "secret:<name>": where status says the values came from
    digest: str  # its resourceVersion: the same Secret is not ingested twice
    uid: str  # for the delete that follows ingestion (a precondition: exactly this Secret)
    data: dict[str, bytes]  # its keys, decoded (a key that does not decode: no keys)


def read_source(
    found: dict[str, Any] | None,
    name: str,
    secret_type: str,
    current: Mapping[str, Any],
    not_found: Problem,
    not_marked: Callable[[str], Problem],
) -> SourceSecret | None:
    """The Secret ``found`` under ``name``, to ingest; None when there is nothing new (it was
    ingested at this version, or ingested and then deleted as designed). ``current`` is the
    owner's status of the last ingestion (``source``, ``sourceDigest``, ``version``);
    ``not_marked`` makes the problem of a Secret of another type, given that type."""
    label = f"secret:{name}"
    if found is None:
        if current.get("source") == label and current.get("version"):
            return None
        raise not_found
    if found.get("type") != secret_type:
        raise not_marked(str(found.get("type") or "Opaque"))
    meta = found["metadata"]
    digest = f"resourceVersion:{meta['resourceVersion']}"
    if current.get("source") == label and current.get("sourceDigest") == digest:
        return None
    try:
        data = {k: base64.b64decode(v, validate=True) for k, v in (found.get("data") or {}).items()}
    except (ValueError, binascii.Error):
        data = {}
    return SourceSecret(label, digest, str(meta["uid"]), data)
