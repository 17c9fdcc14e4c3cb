"""Masking of secret values in captured output, a line at a time (a value of several lines
line by line)."""

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
        # Output is masked a line at a time, so a value of several lines (a PEM key) is masked
        # line by line too: each of its lines is a form of its own.
        forms |= {line.rstrip("\r") for line in value.split("\n")}
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
        self._forms: set[str] = set()
        for value in secrets.values():
            self._forms |= _forms(value)
        self.forms = self._sorted()

    def _sorted(self) -> list[str]:
        return sorted((f for f in self._forms if len(f) >= MIN_LENGTH), key=len, reverse=True)

    def add(self, value: Any) -> None:
        """Mask ``value`` from now on too (a secret a script wrote during the run)."""
        self._forms |= _forms(value)
        self.forms = self._sorted()  # one assignment: a reader in another thread sees old or new

    def __call__(self, text: str) -> str:
        for form in self.forms:
            if form in text:
                text = text.replace(form, MASK)
        return text


def mask_data(value: Any, mask: Masker) -> Any:
    """``value`` (JSON-like) with every secret replaced by ****, in keys and values, its shape
    kept: what a script sends to be stored (an event's data, a retry's params)."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {mask(str(key)): mask_data(inner, mask) for key, inner in value.items()}
    if isinstance(value, list):
        return [mask_data(inner, mask) for inner in value]
    if isinstance(value, int | float) and not isinstance(value, bool) and mask(str(value)) != str(value):
        return MASK
    return value
