"""kopf's diff base without the spec's bulk.

kopf keeps the last handled "essence" of each object in an annotation, and every annotation of
an object must fit in 256 KiB together. A package's scripts may total 512 KiB and a sealed text
400 KB, so storing the essence as is would leave a large package unhandled, with no condition
saying why. Ferris's handlers are level-based: they need to know *that* a field changed, never
its old value. So every string longer than ``MAX_INLINE`` is kept as its SHA-256 in the essence;
both sides of kopf's comparison are built the same way, so a change still shows as a change.
Many short strings add up as well (a package's params, a trigger's filters): when the essence
is still over ``MAX_ESSENCE``, each of its top-level fields that is larger than ``MAX_INLINE`` is
kept as one digest of its canonical JSON, so the annotation stays small whatever the object
holds. (FerrisRuns are not kopf's: the operator watches them itself, see app.py.)"""

from __future__ import annotations

import hashlib
import json
from typing import Any, cast

import kopf

MAX_INLINE = 512
MAX_ESSENCE = 32 * 1024  # bytes of JSON the annotation may hold, of the 256 KiB all of them share


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _small(essence: dict[str, Any]) -> dict[str, Any]:
    """The essence, with its large top-level fields as digests when the whole is too large."""
    if len(_canonical(essence)) <= MAX_ESSENCE:
        return essence
    return {
        key: _digest(text) if len(text := _canonical(value)) > MAX_INLINE else value for key, value in essence.items()
    }


def _digested(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_INLINE:
        return _digest(value)
    if isinstance(value, dict):
        return {key: _digested(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_digested(item) for item in value]
    return value


class DigestedDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    def build(self, *, body: Any, extra_fields: Any = None) -> Any:
        essence = super().build(body=body, extra_fields=extra_fields)
        return cast(Any, _small(_digested(dict(essence))))
