"""A package's parameters form (`spec.paramsSchema`): the Ferris executor's field types (text,
textarea, int, float, select, multiselect, radio, checkbox) as a small JSON Schema subset, and
the check of a run's params against it. A refusal names the parameter and the rule. Pure.

    paramsSchema:
      required: [region]
      properties:
        region: {type: string, enum: [eu, us], widget: radio, default: eu}
        retries: {type: integer, minimum: 0, maximum: 5}
        notes: {type: string, widget: textarea, maxLength: 2000}
        targets: {type: array, items: {enum: [a, b, c]}}
        dry_run: {type: boolean}
        api_token: {type: string, secret: true}
        data: {type: file, maxBytes: 2097152, accept: [.csv, text/plain]}

A ``secret`` field's value never goes into the FerrisRun: the server keeps it encrypted for the
run, and the run's start seals it into the bundle (``split``, ``secret_names``). A ``file``
field's file is given through the server too, kept encrypted for the run; the FerrisRun holds
only what anyone reading it may see, ``{"file": NAME, "bytes": N}`` (``file_value``), and the
script reads the file at the path its param holds."""

from __future__ import annotations

import mimetypes
import re
from typing import Any

from ferris_operator.bodies import ParamsSchema

TYPES = ("string", "integer", "number", "boolean", "array", "file")
WIDGETS = {
    "string": ("text", "textarea", "select", "radio"),
    "integer": ("int",),
    "number": ("float",),
    "boolean": ("checkbox",),
    "array": ("multiselect",),
    "file": ("file",),
}
MAX_FILE_BYTES = 16 * 1024 * 1024  # a file param's maxBytes at most, and all of a run's files together
DEFAULT_FILE_BYTES = 4 * 1024 * 1024  # a file param's maxBytes when it says none
FILE_NAME = re.compile(r"^[^/\\\x00-\x1f]{1,255}$")  # a file's own name: no folder, no control character
ACCEPT = re.compile(r"^(\.[A-Za-z0-9][-A-Za-z0-9_.]{0,31}|[a-z]+/(\*|[-a-z0-9.+]+))$")
KEYS = {
    "type",
    "title",
    "description",
    "default",
    "enum",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "items",
    "widget",
    "secret",
    "maxBytes",
    "accept",
}
MASK = "****"  # what a secret param's value is shown as, wherever the run's params are


class ParamsError(ValueError):
    """Params that break the package's paramsSchema; the message names the parameter and the rule."""


def widget(field: dict[str, Any]) -> str:
    """The form control a field is shown with: its ``widget``, or the natural one for its type."""
    kind = field["type"]
    if field.get("widget"):
        return str(field["widget"])
    if kind == "string":
        return "select" if "enum" in field else "text"
    return WIDGETS[kind][0]


def check_schema(schema: ParamsSchema) -> None:
    """ParamsError when the schema itself is wrong (the package is then not Ready)."""
    properties = schema.get("properties") or {}
    if not isinstance(properties, dict):
        raise ParamsError("spec.paramsSchema.properties must be an object of fields")
    for name, field in properties.items():
        where = f"spec.paramsSchema.properties.{name}"
        if not isinstance(field, dict):
            raise ParamsError(f"{where} must be an object")
        unknown = set(field) - KEYS
        if unknown:
            raise ParamsError(
                f"{where}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(KEYS))}"
            )
        kind = field.get("type")
        if kind not in TYPES:
            raise ParamsError(f"{where}.type must be one of {', '.join(TYPES)}")
        if "secret" in field and not isinstance(field["secret"], bool):
            raise ParamsError(f"{where}.secret must be true or false")
        if field.get("secret") and "default" in field:
            raise ParamsError(f"{where}: a secret param has no default (it would sit in the package in plain text)")
        if kind == "file":
            _check_file_field(where, field)
        elif "maxBytes" in field or "accept" in field:
            raise ParamsError(f"{where}: maxBytes and accept are for type file only")
        if field.get("widget") and field["widget"] not in WIDGETS[kind]:
            raise ParamsError(
                f"{where}.widget {field['widget']!r} does not fit type {kind}: use {', '.join(WIDGETS[kind])}"
            )
        if widget(field) in ("select", "radio") and not isinstance(field.get("enum"), list):
            raise ParamsError(f"{where}: a {widget(field)} needs enum, the list of choices")
        if kind == "array" and not isinstance((field.get("items") or {}).get("enum"), list):
            raise ParamsError(f"{where}: a multiselect needs items.enum, the list of choices")
        if "default" in field:
            try:
                check_value(name, field, field["default"])
            except ParamsError as exc:
                raise ParamsError(f"{where}.default: {exc}") from None
    for name in schema.get("required") or []:
        if name not in properties:
            raise ParamsError(f"spec.paramsSchema.required names {name!r}, which is not in properties")


def _check_file_field(where: str, field: dict[str, Any]) -> None:
    if "default" in field or field.get("secret"):
        raise ParamsError(f"{where}: a file param has no default and no secret (its file is always kept encrypted)")
    size = field.get("maxBytes", DEFAULT_FILE_BYTES)
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= MAX_FILE_BYTES:
        raise ParamsError(f"{where}.maxBytes must be a whole number from 1 to {MAX_FILE_BYTES}")
    accept = field.get("accept", [])
    if not isinstance(accept, list) or not all(isinstance(a, str) and ACCEPT.match(a) for a in accept):
        raise ParamsError(f"{where}.accept must list file name endings (.csv) or media types (text/csv, text/*)")


def max_bytes(field: dict[str, Any]) -> int:
    size = field.get("maxBytes", DEFAULT_FILE_BYTES)
    return size if isinstance(size, int) else DEFAULT_FILE_BYTES


def accepts(field: dict[str, Any], file_name: str) -> bool:
    """Whether a file param takes a file of this name: its ``accept`` lists name endings (.csv)
    and media types (text/csv, text/*; the type is guessed from the name); none: any file."""
    accept = field.get("accept") or []
    if not accept:
        return True
    lowered = file_name.lower()
    guessed = mimetypes.guess_type(lowered)[0] or ""
    for entry in accept:
        if entry.startswith("."):
            if lowered.endswith(entry.lower()):
                return True
        elif (entry.endswith("/*") and guessed.startswith(entry[:-1])) or guessed == entry:
            return True
    return False


def file_value(file_name: str, size: int) -> dict[str, Any]:
    """What a FerrisRun's spec.params holds for a file param: the file's name and size."""
    return {"file": file_name, "bytes": size}


def file_names(schema: ParamsSchema | None) -> frozenset[str]:
    """The params the schema gives type ``file``."""
    properties = (schema or {}).get("properties") or {}
    return frozenset(
        name for name, field in properties.items() if isinstance(field, dict) and field.get("type") == "file"
    )


def check_file(name: str, field: dict[str, Any], file_name: str, size: int) -> None:
    """ParamsError when a file param does not take this file, naming the limit or the rule."""
    if not FILE_NAME.match(file_name) or file_name in (".", ".."):
        raise ParamsError(f"param {name}: the file's name must be 1 to 255 characters with no / or \\")
    if size > max_bytes(field):
        raise ParamsError(f"param {name}: the file is {size} bytes, over its maxBytes of {max_bytes(field)}")
    if not accepts(field, file_name):
        raise ParamsError(f"param {name}: {file_name!r} is not one of {', '.join(field.get('accept') or [])}")


def check_value(name: str, field: dict[str, Any], value: Any) -> None:
    """ParamsError naming the param and the rule; a secret param's value is never quoted."""
    show = _masked if field.get("secret") else _show
    kind = field["type"]
    if kind == "file":
        if not (
            isinstance(value, dict)
            and set(value) == {"file", "bytes"}
            and isinstance(value["file"], str)
            and isinstance(value["bytes"], int)
        ):
            raise ParamsError(
                f"param {name} is a file: give it through the Ferris server (ferris run -p {name}=@PATH, the console)"
            )
        check_file(name, field, value["file"], value["bytes"])
        return
    ok = {
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "array": isinstance(value, list),
    }[kind]
    if not ok:
        raise ParamsError(f"param {name} must be {'an' if kind[0] in 'aeiou' else 'a'} {kind}, got {show(value)}")
    if "enum" in field and value not in field["enum"]:
        raise ParamsError(f"param {name} must be one of {', '.join(map(_show, field['enum']))}, got {show(value)}")
    if kind == "array":
        choices = field["items"]["enum"]
        wrong = [v for v in value if v not in choices]
        if wrong:
            raise ParamsError(f"param {name}: {show(wrong[0])} is not one of {', '.join(map(_show, choices))}")
    if kind in ("integer", "number"):
        if "minimum" in field and value < field["minimum"]:
            raise ParamsError(f"param {name} must be at least {field['minimum']}, got {show(value)}")
        if "maximum" in field and value > field["maximum"]:
            raise ParamsError(f"param {name} must be at most {field['maximum']}, got {show(value)}")
    if kind == "string":
        if "minLength" in field and len(value) < field["minLength"]:
            raise ParamsError(f"param {name} must have at least {field['minLength']} characters")
        if "maxLength" in field and len(value) > field["maxLength"]:
            raise ParamsError(f"param {name} must have at most {field['maxLength']} characters")


def apply(schema: ParamsSchema | None, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with the schema's defaults filled in, checked; ParamsError on the first
    breach. Params the schema does not name pass through (scripts may read more than the form
    shows), as the Ferris executor does."""
    if not schema:
        return params
    properties = schema.get("properties") or {}
    merged = dict(params)
    for name, field in properties.items():
        if name not in merged and "default" in field:
            merged[name] = field["default"]
    for name in schema.get("required") or []:
        if merged.get(name) in (None, ""):
            raise ParamsError(f"param {name} is required")
    for name, field in properties.items():
        if name in merged and merged[name] is not None:
            check_value(name, field, merged[name])
    return merged


def secret_names(schema: ParamsSchema | None) -> frozenset[str]:
    """The params the schema marks ``secret: true``."""
    properties = (schema or {}).get("properties") or {}
    return frozenset(
        name for name, field in properties.items() if isinstance(field, dict) and field.get("secret") is True
    )


def split(schema: ParamsSchema | None, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the params that may be written down, the secret ones)."""
    secret = secret_names(schema)
    return {k: v for k, v in params.items() if k not in secret}, {k: v for k, v in params.items() if k in secret}


def shown(schema: ParamsSchema | None, params: dict[str, Any], secret: frozenset[str] | set[str]) -> dict[str, Any]:
    """``params`` as history keeps and shows them: each secret one given as ****."""
    return {**params, **dict.fromkeys(sorted(secret & secret_names(schema)), MASK)}


def _masked(value: Any) -> str:
    return MASK


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
