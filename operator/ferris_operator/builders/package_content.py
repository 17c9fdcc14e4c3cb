"""A package's files as its runs read them: packed into immutable, content-addressed ConfigMaps
that every run of the same content shares, instead of a copy in every run's bundle.

Each file is cut into parts of at most ``PART_BYTES``; each part is a key named by its SHA-256
(text in ``data``, anything else in ``binaryData``); parts are packed in order into objects of at
most ``OBJECT_BYTES`` (a ConfigMap holds 1 MiB). An object's name is a digest of its keys and the
package's salt (an HMAC of its uid under the operator's stamp key), so equal content gives the
same object, other content another, and no one but the operator knows a name before the object
exists. The Job mounts
the objects whole as one projected volume (a part is kept once, so each key is one file: its
SHA-256), naming no key, so a run's Job and pod stay as small for 8 MiB as for 1 KiB; the run
document lists each file's part keys in order, and the runner joins them. The runner trusts none
of it: each file's SHA-256 is sealed in the run's bundle. Pure."""

from __future__ import annotations

import base64
import datetime
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ferris_operator import model

PART_BYTES = 448 * 1024  # two to an object
OBJECT_BYTES = 900 * 1024  # below the 1 MiB a ConfigMap holds, its metadata included
STAMP_PURPOSE = "content-of"  # an object's stamp binds it to the package's uid
ANNOTATION_LAST_USED = "ferris.io/last-used"  # when a run last marked it used (runs/content_sweep.py)
TOUCH_AFTER = datetime.timedelta(minutes=30)  # a run marks an object used when it was last marked before that
SWEEP_AFTER = datetime.timedelta(hours=1)  # unused for that long, and no active run mounts it: deleted


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


@dataclass(frozen=True)
class ContentObject:
    name: str
    parts: dict[str, bytes]  # key (the part's SHA-256) -> the part

    def size(self) -> int:
        return sum(len(part) for part in self.parts.values())


@dataclass(frozen=True)
class Content:
    objects: list[ContentObject]
    keys: list[list[str]]  # each file's parts (their keys: SHA-256s) in order, by the file's index
    digests: list[str] = field(default_factory=list)  # each file's SHA-256, by index

    @property
    def names(self) -> list[str]:
        return [obj.name for obj in self.objects]


def object_name(package: str, salt: str, keys: list[str]) -> str:
    digest = sha256("\n".join([salt, *keys]).encode())[:20]
    return f"{package[:38].rstrip('-.')}-content-{digest}"


def pack(package: str, salt: str, files: list[tuple[str, bytes]]) -> Content:
    """The objects holding ``files`` (name, content) and each file's part keys; ``salt``: the
    package's (``Provenance.content_salt``), which each object's name digests with its keys."""
    placed: list[tuple[int, int, str, bytes]] = []  # (file index, part index, key, part)
    keys: list[list[str]] = []
    for index, (_, content) in enumerate(files):
        pieces = [content[i : i + PART_BYTES] for i in range(0, len(content), PART_BYTES)] or [b""]
        keys.append([sha256(piece) for piece in pieces])
        placed.extend((index, k, sha256(piece), piece) for k, piece in enumerate(pieces))
    groups: list[dict[str, bytes]] = []
    where: dict[str, int] = {}  # key -> group index (an equal part is kept once)
    for _, _, key, piece in placed:
        if key in where:
            continue
        if not groups or sum(map(len, groups[-1].values())) + len(piece) > OBJECT_BYTES:
            groups.append({})
        groups[-1][key] = piece
        where[key] = len(groups) - 1
    objects = [ContentObject(object_name(package, salt, sorted(group)), group) for group in groups]
    return Content(objects, keys, [sha256(content) for _, content in files])


def needs_touch(metadata: Mapping[str, Any], now: datetime.datetime) -> bool:
    """Whether a run must mark the object used: last marked (or made) ``TOUCH_AFTER`` ago or more."""
    text = (metadata.get("annotations") or {}).get(ANNOTATION_LAST_USED) or metadata.get("creationTimestamp")
    try:
        last = model.parse_timestamp(str(text or ""))
    except ValueError:
        return True
    return now - last >= TOUCH_AFTER


def configmap(
    obj: ContentObject, namespace: str, package: str, package_uid: str, now: datetime.datetime
) -> dict[str, Any]:
    """The immutable ConfigMap of one content object, owned by its FerrisPackage (deleted with
    it) and marked used ``now``; the caller stamps it."""
    data: dict[str, str] = {}
    binary: dict[str, str] = {}
    for key, part in obj.parts.items():
        try:
            data[key] = part.decode("utf-8")
        except UnicodeDecodeError:
            binary[key] = base64.b64encode(part).decode()
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": obj.name,
            "namespace": namespace,
            "annotations": {ANNOTATION_LAST_USED: model.timestamp(now)},
            "labels": {
                **model.MANAGED_BY,
                model.LABEL_PACKAGE: package,
                model.LABEL_COMPONENT: model.COMPONENT_CONTENT,
            },
            "ownerReferences": [
                {
                    "apiVersion": f"{model.GROUP}/{model.VERSION}",
                    "kind": "FerrisPackage",
                    "name": package,
                    "uid": package_uid,
                    "controller": True,
                    "blockOwnerDeletion": False,
                }
            ],
        },
        "immutable": True,
    }
    if data:
        body["data"] = data
    if binary:
        body["binaryData"] = binary
    return body


def holds(found: dict[str, Any], obj: ContentObject) -> bool:
    """Whether a ConfigMap found under an object's name holds exactly its parts, each under its
    own SHA-256."""
    parts: dict[str, bytes] = {}
    try:
        for key, text in (found.get("data") or {}).items():
            parts[str(key)] = str(text).encode("utf-8")
        for key, encoded in (found.get("binaryData") or {}).items():
            parts[str(key)] = base64.b64decode(str(encoded), validate=True)
    except ValueError:
        return False
    return parts == obj.parts
