"""CloudEvents as the server takes them: structured and binary mode, bounded attributes, JSON
object data only, Ferris's own sources refused from others; and what a script sends."""

from __future__ import annotations

import json

import pytest

from ferris_operator import model
from ferris_operator.triggers.cloudevents import MAX_BODY, STRUCTURED, EventError, parse, sent_by_script

BINARY = {"ce-specversion": "1.0", "ce-id": "42", "ce-source": "/crm", "ce-type": "com.example.lead"}


def test_binary_mode_takes_the_attributes_from_headers_and_the_data_from_the_body() -> None:
    event = parse("application/json", {**BINARY, "ce-subject": "acme"}, b'{"score": 7}')
    assert (event.id, event.source, event.type, event.subject, event.data) == (
        "42",
        "/crm",
        "com.example.lead",
        "acme",
        {"score": 7},
    )
    assert parse("application/json", BINARY, b"").data == {}  # no data: no params


@pytest.mark.parametrize(
    ("content_type", "headers", "body", "named"),
    [
        ("application/json", {}, b"{}", "send a CloudEvent"),
        ("application/json", {k: v for k, v in BINARY.items() if k != "ce-type"}, b"{}", "type: required"),
        ("text/plain", BINARY, b"hello", "Content-Type"),
        ("application/json", BINARY, b"{not json", "is not"),
        (STRUCTURED, {}, b"[1]", "JSON object"),
        (
            STRUCTURED,
            {},
            json.dumps({"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "data_base64": "AA=="}).encode(),
            "data_base64",
        ),
        (
            STRUCTURED,
            {},
            json.dumps({"specversion": "1.0", "id": "1\n2", "source": "/s", "type": "t"}).encode(),
            "control characters",
        ),
        (STRUCTURED, {}, b" " * (MAX_BODY + 1), "over the limit"),
        (STRUCTURED, {}, b"[" * 5000 + b"]" * 5000, "nests more than"),
    ],
)
def test_what_is_not_an_event_ferris_takes_is_refused_naming_why(
    content_type: str, headers: dict[str, str], body: bytes, named: str
) -> None:
    with pytest.raises(EventError, match=named):
        parse(content_type, headers, body)


def test_a_script_sends_from_its_run_unless_it_names_another_source_but_never_a_ferris_one() -> None:
    own = "/apis/ferris.io/v1alpha1/namespaces/team/ferrisruns/r-1"
    event = sent_by_script({"id": "u1", "type": "done", "data": {"n": 1}}, own, "run-uid")
    assert (event.source, event.data) == (own, {"n": 1})
    assert sent_by_script({"id": "u2", "type": "done", "source": "/mine"}, own, "run-uid").source == "/mine"
    with pytest.raises(EventError, match="Ferris's own"):
        sent_by_script(
            {"id": "u3", "type": "done", "source": "/apis/ferris.io/v1alpha1/namespaces/x/ferrisruns/y"},
            own,
            "run-uid",
        )
    with pytest.raises(EventError, match="unknown field"):
        sent_by_script({"id": "u4", "type": "done", "topic": "t"}, own, "run-uid")


@pytest.mark.parametrize("end", [model.RUN_ENDED_TYPE, model.RUN_ENDED_CE_TYPE])
def test_the_end_of_a_run_is_sent_by_ferris_alone_never_a_script_a_user_or_a_webhook(end: str) -> None:
    """A script that sent its own run's end (Succeeded) and then failed had the genuine end
    dropped as a duplicate and started the "after success" trigger with its own params."""
    own = "/apis/ferris.io/v1alpha1/namespaces/team/ferrisruns/r-1"
    forged = {"id": "run-uid", "type": end, "data": {"phase": "Succeeded"}}
    with pytest.raises(EventError, match="only Ferris sends"):
        sent_by_script(forged, own, "run-uid")
    with pytest.raises(EventError, match="the run's uid is the id of the run's end event"):
        sent_by_script({**forged, "type": "my.own.type"}, own, "run-uid")
    mine = {**forged, "type": "my.own.type", "source": "/mine"}
    assert sent_by_script(mine, own, "run-uid").id == "run-uid"  # under a source of its own: its id to choose
    event = {"specversion": "1.0", "id": "x", "source": "/shop", "type": end, "data": {}}
    with pytest.raises(EventError, match="only Ferris sends"):
        parse(STRUCTURED, {}, json.dumps(event).encode())
    headers = {"ce-specversion": "1.0", "ce-id": "x", "ce-source": "/shop", "ce-type": end}
    with pytest.raises(EventError, match="only Ferris sends"):
        parse("application/json", headers, b"{}")
