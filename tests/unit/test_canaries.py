"""The suite's canary finder finds a value wherever an encoding hid it, at every offset: the
search for the value's own base64 found one inside a whole-document encoding only when its
offset happened to be a multiple of three (0 times in 300 for the server test's canary)."""

from __future__ import annotations

import base64
import gzip
import json

import pytest

from tests.canaries import assert_no_canary, holds

CANARY = "srv-c4n4ry-0123456789abcdef"


@pytest.mark.parametrize("offset", range(6))
def test_a_canary_inside_a_base64_encoded_json_document_is_found_at_every_offset(offset: int) -> None:
    document = json.dumps({"pad": "x" * offset, "API_KEY": CANARY})
    status = {"status": {"uploaded": base64.b64encode(document.encode()).decode()}}
    assert holds(status, CANARY)
    assert holds(json.dumps(status), CANARY)  # as text: a pg_dump, a log, kubectl -o json
    assert holds(f"  data:\n    secrets.json: {base64.urlsafe_b64encode(document.encode()).decode()}\n", CANARY)


def test_encodings_inside_encodings_gzip_and_hex_are_opened() -> None:
    inner = base64.b64encode(json.dumps({"k": CANARY}).encode()).decode()
    outer = base64.b64encode(gzip.compress(json.dumps({"nested": inner}).encode())).decode()
    assert holds({"binaryData": {"bundle": outer}}, CANARY)
    assert holds("\\x" + json.dumps({"k": CANARY}).encode().hex(), CANARY)  # a bytea column as text
    assert holds(b"\x00\x01" + CANARY.encode() + b"\xff", CANARY)  # raw bytes around it


def test_what_does_not_hold_the_canary_is_clean() -> None:
    other = base64.b64encode(json.dumps({"API_KEY": "something-else-entirely"}).encode()).decode()
    assert not holds({"data": {"secrets.json": other}, "hex": "00ff" * 20}, CANARY)
    assert not holds(CANARY[:-1], CANARY)
    assert_no_canary("a clean surface", {"data": other}, [CANARY])
    with pytest.raises(AssertionError, match="found in a status"):
        assert_no_canary("a status", {"x": base64.b64encode(CANARY.encode()).decode()}, [CANARY])
