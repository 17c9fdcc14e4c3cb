"""Events from senders without a Kubernetes identity (webhooks), through a FerrisEventSource:
the HMAC signature over the body checked in constant time, then the event read, as a
CloudEvent in structured mode or as plain JSON whose type, id and source the event source's
spec gives. Pure.

The signature covers the body only, so nothing that decides what an event is may come from
elsewhere: a captured delivery replayed with new ``ce-id``, ``ce-type`` and ``ce-source``
headers started a run each time. So: a CloudEvent must be in structured mode (its attributes
in the signed body; binary mode is refused), must carry a signed ``time`` no further than the
source's ``maxAgeSeconds`` (300 by default) from now, and may not name another event source
(``/eventsources/...``) as its source. A plain JSON body takes its type and id from headers
the signature does not cover: such an event is stored once per source and body (the store
checks), so a replay with other headers is the same event."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ferris_operator.bodies import EventSourceSpec
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
    max_age: int = 300  # seconds a structured event's signed time may be from now


def source_spec(name: str, spec: EventSourceSpec) -> SourceSpec:
    signature = spec.get("signature") or {}
    return SourceSpec(
        name,
        str(signature.get("header") or SourceSpec.header),
        str(signature.get("algorithm") or SourceSpec.algorithm),
        str(signature.get("prefix") if signature.get("prefix") is not None else SourceSpec.prefix),
        spec.get("eventType"),
        spec.get("typeHeader"),
        spec.get("idHeader"),
        int(spec.get("maxAgeSeconds") or SourceSpec.max_age),
    )


def _check_time(value: Any, now: datetime.datetime, max_age: int) -> None:
    """A structured event's ``time`` (signed, in the body) must be within ``max_age`` seconds."""
    if not isinstance(value, str):
        raise EventError(
            "time: required through an event source (RFC 3339, e.g. 2026-12-07T10:00:00Z): a signed time"
            " is what keeps a captured delivery from being replayed later"
        )
    try:
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise EventError(f"time: {value[:64]!r} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise EventError("time: give a time zone (Z or an offset)")
    if abs((now - moment).total_seconds()) > max_age:
        raise EventError(
            f"time: {value[:64]} is more than {max_age} s from the server's time (the source's maxAgeSeconds):"
            " send the event when it happens, with its own time, and check the sender's clock"
        )


def sign(key: bytes, body: bytes, algorithm: str = "sha256", prefix: str = "sha256=") -> str:
    """The header value a sender puts on ``body``."""
    return prefix + hmac.new(key, body, getattr(hashlib, algorithm)).hexdigest()


def verify(key: bytes, body: bytes, given: str | None, spec: SourceSpec) -> bool:
    if not given or len(key) < MIN_KEY_BYTES:
        return False
    expected = sign(key, body, spec.algorithm, spec.prefix)
    return hmac.compare_digest(expected.encode(), given.strip().encode())


def incoming(
    spec: SourceSpec, content_type: str, headers: Mapping[str, str], body: bytes, now: datetime.datetime
) -> Incoming:
    """The event of a signed request."""
    media = content_type.split(";", 1)[0].strip().lower()
    if any(name.lower().startswith("ce-") for name in headers):
        raise EventError(
            "binary mode (ce- headers) is refused through an event source: the signature covers the body only;"
            f" send the whole event as the body (Content-Type {cloudevents.STRUCTURED})"
        )
    if media == cloudevents.STRUCTURED:
        event = cloudevents.parse(content_type, headers, body)
        _check_time(json.loads(body).get("time"), now, spec.max_age)
        own = f"/eventsources/{spec.name}"
        if event.source.startswith("/eventsources/") and event.source != own:
            raise EventError(f"source: {event.source} is another event source's; this one's is {own}")
        return event
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
