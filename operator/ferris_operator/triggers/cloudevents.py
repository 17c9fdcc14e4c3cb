"""CloudEvents 1.0 over HTTP, as the Ferris server takes them: structured mode (the event as one
JSON object, ``Content-Type: application/cloudevents+json``) or binary mode (attributes in
``ce-`` headers, the data as the JSON body). Attributes are bounded; the data must be a JSON
object, since it becomes a run's params; sources under ``/apis/ferris.io/`` and the run-end
types are Ferris's own (a run's end) and refused from anyone else, scripts included: a trigger
on a run's end is started by Ferris's own event only. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ferris_operator import model, runner_reports
from ferris_operator.runner_reports import ReportError

STRUCTURED = "application/cloudevents+json"
MAX_BODY = 64 * 1024
MAX_CONTAINERS = 2048  # JSON objects and arrays in one event
MAX_ID, MAX_TYPE, MAX_SOURCE, MAX_SUBJECT = 256, 256, 1024, 1024
RESERVED_SOURCE = f"/apis/{model.GROUP}/"
RESERVED_TYPES = (model.RUN_ENDED_TYPE, model.RUN_ENDED_CE_TYPE)  # only Ferris sends a run's end


class EventError(ValueError):
    """The request is not an event Ferris takes; the text names the attribute and the fix."""


@dataclass(frozen=True)
class Incoming:
    id: str
    type: str
    source: str
    subject: str | None
    data: dict[str, Any]


def parse(content_type: str, headers: Mapping[str, str], body: bytes) -> Incoming:
    """The event of an HTTP request, in whichever mode it came."""
    if len(body) > MAX_BODY:
        raise EventError(f"the event is {len(body)} bytes, over the limit of {MAX_BODY}")
    media = content_type.split(";", 1)[0].strip().lower()
    if media == STRUCTURED:
        return structured(_json(body, "the body"))
    if any(name.lower() == "ce-specversion" for name in headers):
        return binary(headers, media, body)
    raise EventError(
        f"send a CloudEvent: Content-Type {STRUCTURED} with the event as JSON (structured mode),"
        " or ce-specversion, ce-id, ce-source and ce-type headers with the data as JSON (binary mode)"
    )


def structured(document: Any) -> Incoming:
    if not isinstance(document, dict):
        raise EventError("the body must be a JSON object: the event")
    if "data_base64" in document:
        raise EventError("data_base64: Ferris takes JSON data only (its fields become the run's params)")
    media = str(document.get("datacontenttype") or "application/json")
    _check_json_media(media, "datacontenttype")
    return _incoming(lambda name: document.get(name), document.get("data"))


def binary(headers: Mapping[str, str], media: str, body: bytes) -> Incoming:
    lowered = {name.lower(): value for name, value in headers.items()}
    _check_json_media(media or "application/json", "Content-Type")
    data = _json(body, "the body (the event's data)") if body.strip() else None
    return _incoming(lambda name: lowered.get(f"ce-{name}"), data)


def sent_by_script(body: Any, run_source: str, run_uid: str) -> Incoming:
    """``context.events.send`` through the runner API: type, data, and optionally source,
    subject and id (the runner makes one per call, so a retried request is one event). Under
    the run's own source, the run's uid is the id of the run's end event: a script may not
    take it (the genuine end would be dropped as a duplicate)."""
    if not isinstance(body, dict):
        raise EventError("the body must be a JSON object")
    unknown = set(body) - {"id", "type", "source", "subject", "data"}
    if unknown:
        raise EventError(f"unknown field(s): {', '.join(sorted(unknown))}")
    fields = {"specversion": "1.0", "source": body.get("source") or run_source, **body}
    event = _incoming(lambda name: fields.get(name), body.get("data"), allow_reserved=fields["source"] == run_source)
    if event.source == run_source and event.id == run_uid:
        raise EventError("id: the run's uid is the id of the run's end event, which only Ferris sends; use another id")
    return event


def _incoming(attribute: Any, data: Any, allow_reserved: bool = False) -> Incoming:
    version = attribute("specversion")
    if version != "1.0":
        raise EventError(f"specversion: {version!r} is not supported; send 1.0")
    event_id = _text(attribute("id"), "id", MAX_ID)
    event_type = _text(attribute("type"), "type", MAX_TYPE)
    if event_type in RESERVED_TYPES:
        raise EventError(
            f"type: {event_type} is the end of a run, which only Ferris sends (a trigger on it must be able to"
            " trust it); send a type of your own"
        )
    source = _text(attribute("source"), "source", MAX_SOURCE)
    if source.startswith(RESERVED_SOURCE) and not allow_reserved:
        raise EventError(f"source: {RESERVED_SOURCE}... is Ferris's own (the end of a run); use another source")
    subject = attribute("subject")
    if subject is not None:
        subject = _text(subject, "subject", MAX_SUBJECT)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise EventError("data: must be a JSON object (its fields become the run's params)")
    return Incoming(event_id, event_type, source, subject, data)


def _text(value: Any, name: str, limit: int) -> str:
    if not isinstance(value, str) or not value:
        raise EventError(f"{name}: required, a non-empty string")
    if len(value) > limit:
        raise EventError(f"{name}: {len(value)} characters, over the limit of {limit}")
    if any(ord(c) < 32 for c in value):
        raise EventError(f"{name}: control characters are not allowed")
    return value


def json_body(body: bytes) -> Any:
    """A plain JSON body (a webhook's), bounded like an event."""
    return _json(body, "the body")


def _json(body: bytes, what: str) -> Any:
    try:
        return runner_reports.decode(body, MAX_BODY, MAX_CONTAINERS)
    except ReportError as exc:
        raise EventError(f"{what}: {exc}") from None


def _check_json_media(media: str, where: str) -> None:
    media = media.split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise EventError(f"{where}: {media!r}; Ferris takes JSON data only (application/json)")
