"""Signed events: the HMAC over the body checked in constant time with the event source's
header, algorithm and prefix; a plain JSON body becomes an event with the source's type, an id
from a header or the body's digest; a CloudEvent keeps its own attributes."""

from __future__ import annotations

import datetime
import hashlib
import json
import re

import pytest

from ferris_operator.triggers.cloudevents import STRUCTURED, EventError
from ferris_operator.triggers.signatures import incoming, sign, source_spec, verify

KEY = b"k" * 32
NOW = datetime.datetime(2026, 12, 7, 10, 0, tzinfo=datetime.UTC)
BODY = json.dumps({"ref": "refs/heads/main"}).encode()


def test_only_the_right_key_over_the_exact_body_verifies() -> None:
    spec = source_spec("github", {})
    good = sign(KEY, BODY)
    assert good.startswith("sha256=") and verify(KEY, BODY, good, spec)
    assert not verify(KEY, BODY + b" ", good, spec)
    assert not verify(b"x" * 32, BODY, good, spec)
    assert not verify(KEY, BODY, None, spec) and not verify(KEY, BODY, "", spec)
    assert not verify(b"short", BODY, sign(b"short", BODY), spec)  # a key under 16 bytes never verifies
    sha512 = source_spec("s", {"signature": {"algorithm": "sha512", "prefix": "", "header": "X-Sig"}})
    assert verify(KEY, BODY, sign(KEY, BODY, "sha512", ""), sha512) and sha512.header == "X-Sig"
    assert not verify(KEY, BODY, sign(KEY, BODY), sha512)


def test_a_plain_json_body_takes_its_type_id_and_source_from_the_event_source() -> None:
    spec = source_spec(
        "github", {"eventType": "com.github", "typeHeader": "X-GitHub-Event", "idHeader": "X-GitHub-Delivery"}
    )
    event = incoming(spec, "application/json", {"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1"}, BODY, NOW)
    assert (event.type, event.id, event.source, event.data) == (
        "com.github.push",
        "d-1",
        "/eventsources/github",
        {"ref": "refs/heads/main"},
    )
    plain = source_spec("hook", {"eventType": "com.example.hook"})
    replayed = incoming(plain, "application/json", {}, BODY, NOW)
    assert replayed.id == "sha256:" + hashlib.sha256(BODY).hexdigest()  # a replayed body is the same event
    with pytest.raises(EventError, match="X-GitHub-Event"):
        incoming(spec, "application/json", {"X-GitHub-Event": "push; rm -rf"}, BODY, NOW)
    with pytest.raises(EventError, match="CloudEvents only"):
        incoming(source_spec("ce", {}), "application/json", {}, BODY, NOW)


def test_a_signed_cloudevent_keeps_its_own_attributes_but_not_a_ferris_source() -> None:
    spec = source_spec("ce", {})
    document = {
        "specversion": "1.0",
        "id": "1",
        "source": "/crm",
        "type": "com.example.lead",
        "time": "2026-12-07T09:58:00Z",
        "data": {"x": 1},
    }
    event = incoming(spec, "application/cloudevents+json", {}, json.dumps(document).encode(), NOW)
    assert (event.type, event.source, event.data) == ("com.example.lead", "/crm", {"x": 1})
    document["source"] = "/apis/ferris.io/v1alpha1/namespaces/n/ferrisruns/r"
    with pytest.raises(EventError, match="Ferris's own"):
        incoming(spec, "application/cloudevents+json", {}, json.dumps(document).encode(), NOW)


def ce(**change: object) -> bytes:
    document = {"specversion": "1.0", "id": "1", "source": "/crm", "type": "t", "time": "2026-12-07T10:00:00Z"}
    return json.dumps({**document, **change, "data": {}}).encode()


@pytest.mark.parametrize(
    ("body", "headers", "named"),
    [
        (ce(time=None), {}, "time: required through an event source"),
        (ce(time="2026-12-07T09:54:59Z"), {}, "more than 300 s from the server's time"),
        (ce(time="2026-12-07T10:05:01Z"), {}, "more than 300 s"),
        (ce(time="yesterday"), {}, "not an RFC 3339 time"),
        (ce(source="/eventsources/payments"), {}, "another event source's; this one's is /eventsources/ce"),
        (ce(), {"ce-id": "2"}, "binary mode (ce- headers) is refused"),
    ],
)
def test_what_a_replay_could_change_is_signed_or_refused(body: bytes, headers: dict[str, str], named: str) -> None:
    """One captured delivery replayed with new ce-id, ce-type and ce-source headers started a
    run each time: attributes must be in the signed body, with a signed time close to now."""
    with pytest.raises(EventError, match=re.escape(named)):
        incoming(source_spec("ce", {}), "application/cloudevents+json", headers, body, NOW)
    assert incoming(source_spec("ce", {"maxAgeSeconds": 600}), STRUCTURED, {}, ce(time="2026-12-07T09:52:00Z"), NOW)
    assert (
        incoming(source_spec("ce", {}), STRUCTURED, {}, ce(source="/eventsources/ce"), NOW).source == "/eventsources/ce"
    )
