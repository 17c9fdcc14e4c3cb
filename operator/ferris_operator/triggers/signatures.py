"""Events from senders without a Kubernetes identity (webhooks), through a FerrisEventSource:
the HMAC signature over the body checked in constant time, then the event read, as a
CloudEvent (structured or binary mode) or as plain JSON whose type, id and source the event
source's spec gives. Pure."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ferris_operator.triggers import cloudevents
from ferris_operator.triggers.cloudevents import EventError, Incoming

MIN_KEY_BYTES = 16
_TYPE_WORD = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class SourceSpec:
    name: str
    header: str = "X-Hub-Signature-256"
    algorithm: str = "sha256"
    prefix: str = "sha256="
    event_type: str | None = None
    type_header: str | None = None
    id_header: str | None = None


def source_spec(name: str, spec: dict[str, Any]) -> SourceSpec:
    signature = spec.get("signature") or {}
    return SourceSpec(
        name,
        str(signature.get("header") or SourceSpec.header),
        str(signature.get("algorithm") or SourceSpec.algorithm),
        str(signature.get("prefix") if signature.get("prefix") is not None else SourceSpec.prefix),
        spec.get("eventType"),
        spec.get("typeHeader"),
        spec.get("idHeader"),
    )


def sign(key: bytes, body: bytes, algorithm: str = "sha256", prefix: str = "sha256=") -> str:
    """The header value a sender puts on ``body``."""
    return prefix + hmac.new(key, body, getattr(hashlib, algorithm)).hexdigest()


def verify(key: bytes, body: bytes, given: str | None, spec: SourceSpec) -> bool:
    if not given or len(key) < MIN_KEY_BYTES:
        return False
    expected = sign(key, body, spec.algorithm, spec.prefix)
    return hmac.compare_digest(expected.encode(), given.strip().encode())


def incoming(spec: SourceSpec, content_type: str, headers: Mapping[str, str], body: bytes) -> Incoming:
    """The event of a signed request."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == cloudevents.STRUCTURED or any(name.lower() == "ce-specversion" for name in headers):
        return cloudevents.parse(content_type, headers, body)
    if not spec.event_type:
        raise EventError("this event source takes CloudEvents only (it has no spec.eventType for plain JSON bodies)")
    lowered = {name.lower(): value for name, value in headers.items()}
    event_type = spec.event_type
    if spec.type_header:
        word = lowered.get(spec.type_header.lower(), "")
        if not _TYPE_WORD.match(word):
            raise EventError(f"header {spec.type_header}: required, letters, digits, '.', '-' or '_'")
        event_type = f"{event_type}.{word}"
    event_id = lowered.get(spec.id_header.lower(), "") if spec.id_header else ""
    document = {
        "specversion": "1.0",
        "id": event_id or "sha256:" + hashlib.sha256(body).hexdigest(),
        "type": event_type,
        "source": f"/eventsources/{spec.name}",
        "data": cloudevents.json_body(body),
    }
    return cloudevents.structured(document)
