"""Masking of secret values in captured output."""

from __future__ import annotations

import json
from typing import Any

MASK = "****"
MIN_LENGTH = 4


def _forms(value: Any) -> set[str]:
    forms: set[str] = set()
    if isinstance(value, bool) or value is None:
        return forms
    if isinstance(value, str):
        forms |= {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1], repr(value)[1:-1]}
    elif isinstance(value, int | float):
        forms.add(str(value))
    elif isinstance(value, dict):
        for inner in value.values():
            forms |= _forms(inner)
        forms |= {json.dumps(value), json.dumps(value, separators=(",", ":")), str(value)}
    elif isinstance(value, list):
        for inner in value:
            forms |= _forms(inner)
        forms |= {json.dumps(value), str(value)}
    return forms


class Masker:
    """Replaces every secret value, and its JSON- and repr-escaped forms, with ****."""

    def __init__(self, secrets: dict[str, Any]) -> None:
        forms: set[str] = set()
        for value in secrets.values():
            forms |= _forms(value)
        self.forms = sorted((f for f in forms if len(f) >= MIN_LENGTH), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for form in self.forms:
            if form in text:
                text = text.replace(form, MASK)
        return text
