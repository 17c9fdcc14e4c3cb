"""The FerrisPackages whose secrets come from a Secret (``spec.secretsFrom``), by name, as the
package handlers last saw them (kopf's resume at start-up included). The periodic re-read of
source Secrets reads these packages only: a cluster of 10,000 packages that upload their
secrets costs it nothing, where listing every package each pass cost CPU and memory that grew
with them."""

from __future__ import annotations

import threading

from ferris_operator.bodies import PackageBody

PackageName = tuple[str, str]  # namespace, name


class SourcedPackages:
    def __init__(self) -> None:
        self._uids: dict[PackageName, str] = {}
        self._lock = threading.Lock()

    def observe(self, body: PackageBody) -> None:
        """A package was created, changed or resumed: kept when it reads a source Secret."""
        meta = body["metadata"]
        sourced = bool((body.get("spec") or {}).get("secretsFrom")) and not meta.get("deletionTimestamp")
        with self._lock:
            if sourced:
                self._uids[(meta["namespace"], meta["name"])] = meta["uid"]
        if not sourced:
            self.forget(body)

    def forget(self, body: PackageBody) -> None:
        """The package is gone (or reads no source now); a same-named newer one stays."""
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        with self._lock:
            if self._uids.get(key) == meta["uid"]:
                del self._uids[key]

    def names(self) -> list[PackageName]:
        with self._lock:
            return sorted(self._uids)
