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

A ``secret`` field's value never goes into the FerrisRun: the server keeps it encrypted for the
run, and the run's start seals it into the bundle (``split``, ``secret_names``)."""

from __future__ import annotations

from typing import Any

from ferris_operator.bodies import ParamsSchema

TYPES = ("string", "integer", "number", "boolean", "array")
WIDGETS = {
    "string": ("text", "textarea", "select", "radio"),
    "integer": ("int",),
    "number": ("float",),
    "boolean": ("checkbox",),
    "array": ("multiselect",),
}
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


def check_value(name: str, field: dict[str, Any], value: Any) -> None:
    """ParamsError naming the param and the rule; a secret param's value is never quoted."""
    show = _masked if field.get("secret") else _show
    kind = field["type"]
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
