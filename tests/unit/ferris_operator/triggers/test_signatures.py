"""Signed events: the HMAC over the body checked in constant time with the event source's
header, algorithm and prefix; a plain JSON body becomes an event with the source's type, an id
from a header or the body's digest; a CloudEvent keeps its own attributes."""

from __future__ import annotations

import hashlib
import json

import pytest

from ferris_operator.triggers.cloudevents import EventError
from ferris_operator.triggers.signatures import incoming, sign, source_spec, verify

KEY = b"k" * 32
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
    event = incoming(spec, "application/json", {"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1"}, BODY)
    assert (event.type, event.id, event.source, event.data) == (
        "com.github.push",
        "d-1",
        "/eventsources/github",
        {"ref": "refs/heads/main"},
    )
    plain = source_spec("hook", {"eventType": "com.example.hook"})
    replayed = incoming(plain, "application/json", {}, BODY)
    assert replayed.id == "sha256:" + hashlib.sha256(BODY).hexdigest()  # a replayed body is the same event
    with pytest.raises(EventError, match="X-GitHub-Event"):
        incoming(spec, "application/json", {"X-GitHub-Event": "push; rm -rf"}, BODY)
    with pytest.raises(EventError, match="CloudEvents only"):
        incoming(source_spec("ce", {}), "application/json", {}, BODY)


def test_a_signed_cloudevent_keeps_its_own_attributes_but_not_a_ferris_source() -> None:
    spec = source_spec("ce", {})
    document = {"specversion": "1.0", "id": "1", "source": "/crm", "type": "com.example.lead", "data": {"x": 1}}
    event = incoming(spec, "application/cloudevents+json", {}, json.dumps(document).encode())
    assert (event.type, event.source, event.data) == ("com.example.lead", "/crm", {"x": 1})
    document["source"] = "/apis/ferris.io/v1alpha1/namespaces/n/ferrisruns/r"
    with pytest.raises(EventError, match="Ferris's own"):
        incoming(spec, "application/cloudevents+json", {}, json.dumps(document).encode())
