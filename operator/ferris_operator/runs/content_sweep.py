"""The sweep of package content objects no run needs any more (``builders/package_content.py``):
those of earlier contents, once no active run mounts them and no run has used them for an hour.

Nothing a run may still mount is deleted. A run records the objects it mounts before it makes
or touches them; a run that uses an object last used more than half an hour ago marks it used
(``ferris.io/last-used``, which changes its resourceVersion); the sweep deletes an object only
when unchanged since it listed it (a precondition on its uid and resourceVersion), after asking
PostgreSQL which objects the namespace's active runs mount. So a run that starts while the sweep
runs either is seen as active, or changed the object first, or finds it gone and makes it again.
And only what the operator can prove it made: an object labelled as content without the
operator's stamp for the package its owner reference names is never touched."""

from __future__ import annotations

import datetime
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from ferris_operator import model
from ferris_operator.builders import package_content
from ferris_operator.ownership import Provenance
from ferris_operator.ports import KubePort, RunStorePort

log = logging.getLogger("ferris.runs")


def last_used(metadata: Mapping[str, Any]) -> datetime.datetime | None:
    """When a run last used the object (its annotation, else its creation); None if unreadable."""
    text = (metadata.get("annotations") or {}).get(package_content.ANNOTATION_LAST_USED)
    try:
        return model.parse_timestamp(str(text or metadata.get("creationTimestamp") or ""))
    except ValueError:
        return None


def stale(objects: Iterable[dict[str, Any]], in_use: set[str], now: datetime.datetime) -> list[dict[str, Any]]:
    """The objects (``{"metadata": ...}``) that no active run mounts and that no run has used for
    ``package_content.SWEEP_AFTER``."""
    found = []
    for obj in objects:
        meta = obj["metadata"]
        used = last_used(meta)
        if meta["name"] not in in_use and used is not None and now - used > package_content.SWEEP_AFTER:
            found.append(obj)
    return found


def owner_package_uid(metadata: Mapping[str, Any]) -> str | None:
    for ref in metadata.get("ownerReferences") or []:
        if ref.get("kind") == "FerrisPackage" and ref.get("controller"):
            return str(ref.get("uid") or "") or None
    return None


class ContentSweep:
    def __init__(self, kube: KubePort, runs: RunStorePort, proof: Provenance, namespaces: tuple[str, ...]) -> None:
        self.kube, self.runs, self.proof, self.namespaces = kube, runs, proof, namespaces

    def sweep(self, now: datetime.datetime | None = None) -> int:
        """Delete the stale content objects the operator made; how many went."""
        now = now or model.utcnow()
        by_namespace: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for obj in self.kube.content_metadata(self.namespaces):
            by_namespace[str(obj["metadata"].get("namespace") or "")].append(obj)
        deleted = 0
        for namespace, objects in by_namespace.items():
            in_use = self.runs.contents_in_use(namespace)  # asked after listing: see the module's note
            for obj in stale(objects, in_use, now):
                meta = obj["metadata"]
                package_uid = owner_package_uid(meta)
                if package_uid is None or not self.proof.made(
                    obj, "ConfigMap", package_content.STAMP_PURPOSE, package_uid
                ):
                    continue  # not the operator's: never deleted
                if self.kube.delete_unchanged(
                    "ConfigMap", namespace, meta["name"], meta["uid"], str(meta.get("resourceVersion") or "")
                ):
                    deleted += 1
        if deleted:
            log.info("deleted %d package content ConfigMaps that no run has used for an hour", deleted)
        return deleted
