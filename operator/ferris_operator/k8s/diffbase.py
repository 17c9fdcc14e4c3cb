"""kopf's diff base without the spec's bulk.

kopf keeps the last handled "essence" of each object in an annotation, and every annotation of
an object must fit in 256 KiB together. A package's scripts may total 512 KiB and a sealed text
400 KB, so storing the essence as is would leave a large package unhandled, with no condition
saying why. Ferris's handlers are level-based: they need to know *that* a field changed, never
its old value. So every string longer than ``MAX_INLINE`` is kept as its SHA-256 in the essence;
both sides of kopf's comparison are built the same way, so a change still shows as a change.
(FerrisRuns are not kopf's: the operator watches them itself, see app.py.)"""

from __future__ import annotations

import hashlib
from typing import Any, cast

import kopf

MAX_INLINE = 512


def _digested(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_INLINE:
        return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    if isinstance(value, dict):
        return {key: _digested(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_digested(item) for item in value]
    return value


class DigestedDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    def build(self, *, body: Any, extra_fields: Any = None) -> Any:
        essence = super().build(body=body, extra_fields=extra_fields)
        return cast(Any, _digested(dict(essence)))
