"""The bad-input corpus for secrets.json, with the exact message each gets."""

from __future__ import annotations

import pytest

from ferris_operator.ingest.secrets_json import MAX_BYTES, SecretsJsonError, parse_secrets_json

CORPUS: list[tuple[str, bytes, str]] = [
    ("not-json", b"DB_PASS=1", "secrets.json: not valid JSON at line 1 column 1: Expecting value"),
    (
        "a-list",
        b'["a"]',
        'secrets.json: top level is a list, must be an object of names to values, e.g. {"DB_PASS": "..."}',
    ),
    (
        "null",
        b"null",
        'secrets.json: top level is a null, must be an object of names to values, e.g. {"DB_PASS": "..."}',
    ),
    ("duplicate-keys", b'{"A": "1", "A": "2"}', "secrets.json: duplicate key 'A'; each name may appear once"),
    (
        "bad-name",
        b'{"db-pass": "1"}',
        "secrets.json: key 'db-pass' is not a valid name; names match ^[A-Za-z_][A-Za-z0-9_]*$",
    ),
    ("digit-first", b'{"1A": "1"}', "secrets.json: key '1A' is not a valid name; names match ^[A-Za-z_][A-Za-z0-9_]*$"),
    (
        "oversize",
        b'{"A": "' + b"x" * MAX_BYTES + b'"}',
        f"secrets.json: {MAX_BYTES + 9} bytes is over the limit of {MAX_BYTES} bytes (256 KiB); split the package",
    ),
    ("invalid-utf8", b'{"A": "\xff"}', "secrets.json: invalid UTF-8 at byte 7; save the file as UTF-8"),
    ("nan", b'{"A": NaN}', "secrets.json: NaN is not valid JSON; use a string or a finite number"),
    ("infinity", b'{"A": Infinity}', "secrets.json: Infinity is not valid JSON; use a string or a finite number"),
    (
        "name-with-newline",
        b'{"A\\n": "1"}',
        "secrets.json: key 'A\\n' is not a valid name; names match ^[A-Za-z_][A-Za-z0-9_]*$",
    ),
    (
        "overflowing-float",
        b'{"A": 1e400}',
        "secrets.json: a number is too large to be finite; write it as a string",
    ),
    (
        "5000-digit-number",
        b'{"A": ' + b"9" * 5000 + b"}",
        "secrets.json: a number of 5000 characters is over the limit of 64; write it as a string",
    ),
    (
        "lone-surrogate",
        b'{"A": "ok \\ud800 not"}',
        "secrets.json: key 'A' holds an invalid Unicode escape (a lone surrogate); use valid UTF-8 text",
    ),
    (
        "lone-surrogate-in-a-nested-key",
        b'{"A": {"\\udfff": "x"}}',
        "secrets.json: key 'A' holds an invalid Unicode escape (a lone surrogate); use valid UTF-8 text",
    ),
    (
        "deep-nesting",
        b'{"A": ' + b'{"a": ' * 40 + b"1" + b"}" * 41,
        "secrets.json: nested deeper than 32 levels; flatten the values",
    ),
    ("empty-object", b"{}", "secrets.json: the object is empty; add at least one secret or drop secretsFrom"),
    ("null-value", b'{"A": null}', "secrets.json: key 'A' is null; values are strings, numbers, booleans or objects"),
    (
        "list-value",
        b'{"A": [1]}',
        "secrets.json: key 'A' is an array; values are strings, numbers, booleans or objects",
    ),
    ("empty-file", b"", "secrets.json: not valid JSON at line 1 column 1: Expecting value"),
]


@pytest.mark.parametrize(("raw", "message"), [(raw, msg) for _, raw, msg in CORPUS], ids=[c[0] for c in CORPUS])
def test_bad_input_gets_its_exact_message(raw: bytes, message: str) -> None:
    with pytest.raises(SecretsJsonError) as caught:
        parse_secrets_json(raw)
    assert str(caught.value) == message


def test_error_messages_never_echo_values() -> None:
    with pytest.raises(SecretsJsonError) as caught:
        parse_secrets_json(b'{"A": "canary-7f3a", "A": "canary-7f3a"}')
    assert "canary" not in str(caught.value)


def test_accepts_strings_numbers_booleans_and_objects() -> None:
    raw = '{"DB_NAME": "test_db", "DB_PASS": "supersecretpas$", "PORT": 5432, "TLS": true, "CONN": {"host": "h"}}'
    assert parse_secrets_json(raw) == {
        "DB_NAME": "test_db",
        "DB_PASS": "supersecretpas$",
        "PORT": 5432,
        "TLS": True,
        "CONN": {"host": "h"},
    }


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    assert parse_secrets_json('{"A": "' + "{" * 100 + '"}') == {"A": "{" * 100}
