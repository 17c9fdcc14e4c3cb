"""The parameters form: the schema checked when the package is reconciled, a run's params
checked (with defaults filled in) when it starts; a refusal names the param and the rule."""

from __future__ import annotations

import re
from typing import Any

import pytest

from ferris_operator.packages import params_schema
from ferris_operator.packages.params_schema import ParamsError, apply, check_schema, widget

SCHEMA: dict[str, Any] = {
    "required": ["region"],
    "properties": {
        "region": {"type": "string", "enum": ["eu", "us"], "widget": "radio", "default": "eu"},
        "retries": {"type": "integer", "minimum": 0, "maximum": 5},
        "ratio": {"type": "number", "maximum": 1.5},
        "notes": {"type": "string", "widget": "textarea", "maxLength": 10},
        "name": {"type": "string", "minLength": 2},
        "targets": {"type": "array", "items": {"enum": ["a", "b"]}},
        "dry_run": {"type": "boolean"},
    },
}


def test_every_ferris_field_type_has_its_control() -> None:
    check_schema(SCHEMA)
    controls = {name: widget(field) for name, field in SCHEMA["properties"].items()}
    assert controls == {
        "region": "radio",
        "retries": "int",
        "ratio": "float",
        "notes": "textarea",
        "name": "text",
        "targets": "multiselect",
        "dry_run": "checkbox",
    }
    assert widget({"type": "string", "enum": ["x"]}) == "select"


def test_defaults_fill_in_and_unknown_params_pass_through() -> None:
    assert apply(SCHEMA, {"retries": 3, "extra": {"k": 1}}) == {"retries": 3, "extra": {"k": 1}, "region": "eu"}
    assert apply(None, {"x": 1}) == {"x": 1}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"region": "mars"}, "param region must be one of 'eu', 'us', got 'mars'"),
        ({"retries": 9}, "param retries must be at most 5, got 9"),
        ({"retries": -1}, "param retries must be at least 0, got -1"),
        ({"retries": "3"}, "param retries must be an integer, got '3'"),
        ({"retries": True}, "param retries must be an integer, got True"),
        ({"ratio": 2}, "param ratio must be at most 1.5, got 2"),
        ({"notes": "x" * 11}, "param notes must have at most 10 characters"),
        ({"name": "x"}, "param name must have at least 2 characters"),
        ({"targets": ["a", "z"]}, "param targets: 'z' is not one of 'a', 'b'"),
        ({"targets": "a"}, "param targets must be an array"),
        ({"dry_run": "yes"}, "param dry_run must be a boolean"),
        ({"region": ""}, "param region is required"),
    ],
)
def test_a_param_that_breaks_the_form_names_itself_and_the_rule(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ParamsError) as caught:
        apply(SCHEMA, params)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"properties": {"x": {"type": "date"}}}, "spec.paramsSchema.properties.x.type must be one of"),
        ({"properties": {"x": {"type": "string", "widget": "checkbox"}}}, "does not fit type string: use text"),
        ({"properties": {"x": {"type": "string", "widget": "select"}}}, "a select needs enum"),
        ({"properties": {"x": {"type": "array"}}}, "a multiselect needs items.enum"),
        (
            {"properties": {"x": {"type": "integer", "default": "one"}}},
            "properties.x.default: param x must be an integer",
        ),
        ({"properties": {"x": {"type": "string", "pattern": "."}}}, "unknown key(s) pattern"),
        ({"required": ["y"], "properties": {}}, "required names 'y', which is not in properties"),
    ],
)
def test_a_wrong_schema_is_refused_naming_the_field(schema: dict[str, Any], message: str) -> None:
    with pytest.raises(ParamsError) as caught:
        check_schema(schema)
    assert message in str(caught.value)


SECRET_SCHEMA: dict[str, Any] = {
    "required": ["api_token"],
    "properties": {
        "api_token": {"type": "string", "secret": True, "minLength": 8, "enum": ["right-one-1"]},
        "region": {"type": "string", "default": "eu"},
    },
}


def test_secret_params_are_split_from_the_rest_and_shown_as_a_mask() -> None:
    assert params_schema.secret_names(SECRET_SCHEMA) == {"api_token"}
    public, secret = params_schema.split(SECRET_SCHEMA, {"api_token": "right-one-1", "region": "us"})
    assert (public, secret) == ({"region": "us"}, {"api_token": "right-one-1"})
    assert params_schema.shown(SECRET_SCHEMA, public, set(secret)) == {"region": "us", "api_token": "****"}


def test_a_refusal_never_quotes_a_secret_params_value() -> None:
    for wrong in ("wrong-value-42", 42):
        with pytest.raises(params_schema.ParamsError) as refused:
            params_schema.apply(SECRET_SCHEMA, {"api_token": wrong})
        assert "wrong-value" not in str(refused.value) and "42" not in str(refused.value)
        assert "****" in str(refused.value) and "api_token" in str(refused.value)


def test_a_secret_param_has_no_default_and_secret_is_a_flag() -> None:
    for field, says in (
        ({"type": "string", "secret": True, "default": "x"}, "a secret param has no default"),
        ({"type": "string", "secret": "yes"}, "secret must be true or false"),
    ):
        with pytest.raises(params_schema.ParamsError, match=says):
            params_schema.check_schema({"properties": {"token": field}})


FILE_SCHEMA: dict[str, Any] = {
    "required": ["data"],
    "properties": {"data": {"type": "file", "maxBytes": 100, "accept": [".csv", "text/plain"]}},
}


def test_a_file_param_takes_a_name_and_size_within_its_limits() -> None:
    params_schema.check_schema(FILE_SCHEMA)
    assert widget(FILE_SCHEMA["properties"]["data"]) == "file"
    assert params_schema.file_names(FILE_SCHEMA) == {"data"}
    given = {"data": params_schema.file_value("rows.CSV", 100)}
    assert apply(FILE_SCHEMA, given) == {"data": {"file": "rows.CSV", "bytes": 100}}
    apply(FILE_SCHEMA, {"data": params_schema.file_value("notes.txt", 1)})  # text/plain, guessed from the name
    for value, says in (
        (params_schema.file_value("rows.csv", 101), "param data: the file is 101 bytes, over its maxBytes of 100"),
        (params_schema.file_value("rows.xlsx", 1), "param data: 'rows.xlsx' is not one of .csv, text/plain"),
        (params_schema.file_value("../rows.csv", 1), "param data: the file's name must be 1 to 255 characters"),
        (params_schema.file_value("..", 1), "the file's name must be"),
        ("/etc/passwd", "param data is a file: give it through the Ferris server (ferris run -p data=@PATH"),
        ({"file": "a.csv", "bytes": 1, "path": "/etc"}, "param data is a file"),
    ):
        with pytest.raises(ParamsError, match=re.escape(says)):
            apply(FILE_SCHEMA, {"data": value})
    with pytest.raises(ParamsError, match="param data is required"):
        apply(FILE_SCHEMA, {})


def test_a_wrong_file_field_is_refused_naming_the_key() -> None:
    where = "spec.paramsSchema.properties.data"
    for field, says in (
        ({"type": "file", "maxBytes": 0}, f"{where}.maxBytes must be a whole number from 1 to 16777216"),
        ({"type": "file", "maxBytes": 16 * 1024 * 1024 + 1}, f"{where}.maxBytes must be a whole number"),
        ({"type": "file", "accept": "csv"}, f"{where}.accept must list file name endings (.csv) or media types"),
        ({"type": "file", "accept": ["csv"]}, f"{where}.accept must list"),
        ({"type": "file", "default": "a.csv"}, "a file param has no default and no secret"),
        ({"type": "file", "secret": True}, "a file param has no default and no secret"),
        ({"type": "string", "maxBytes": 3}, f"{where}: maxBytes and accept are for type file only"),
    ):
        with pytest.raises(ParamsError, match=re.escape(says)):
            check_schema({"properties": {"data": field}})
