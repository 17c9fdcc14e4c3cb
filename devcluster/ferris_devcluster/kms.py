"""The test KMS v2 plugin (``gobuild/kmsplugin``, built with the control plane) as a supervised
process: a key directory, a Unix socket, and the moves tests make (rotate the key, make it
unhealthy, stop it and start it again). It stands in for a cloud KMS plugin; its keys are files.
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
import time
from pathlib import Path
from types import TracebackType

from ferris_devcluster import binaries
from ferris_devcluster.interrupts import shielded
from ferris_devcluster.processes import Supervised


def _key_text() -> str:
    return base64.b64encode(os.urandom(32)).decode()


class KmsPlugin:
    def __init__(self, root: Path | None = None, binary: str | None = None) -> None:
        # A short path: a Unix socket's path is limited to about 100 bytes.
        self._owned = root is None
        self.root = root or Path(tempfile.mkdtemp(prefix="ferris-kms-", dir="/tmp"))
        self.keys = self.root / "keys"
        self.socket = self.root / "kms.sock"
        self._binary = binary or binaries.resolve()["kmsplugin"]
        self._process: Supervised | None = None

    def __enter__(self) -> KmsPlugin:
        self.keys.mkdir(parents=True, exist_ok=True)
        if not (self.keys / "active").exists():
            self.rotate("kms-key-1")
        self.start()
        return self

    @shielded()
    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
        if self._owned:
            shutil.rmtree(self.root, ignore_errors=True)

    def start(self, timeout: float = 10.0) -> None:
        self.socket.unlink(missing_ok=True)
        argv = [self._binary, "--listen", str(self.socket), "--keys", str(self.keys)]
        self._process = Supervised("kmsplugin", argv, self.root)
        deadline = time.monotonic() + timeout
        while not self.socket.exists():
            if not self._process.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the KMS plugin did not start:\n{self._process.tail()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
            self._process = None

    def rotate(self, key_id: str) -> None:
        """A new key, made current: what a KMS rotation looks like from outside."""
        (self.keys / key_id).write_text(_key_text())
        (self.keys / "active").write_text(key_id)

    def unhealthy(self, why: str | None) -> None:
        """Status reports ``why`` instead of ok (None: healthy again)."""
        marker = self.keys / "unhealthy"
        if why is None:
            marker.unlink(missing_ok=True)
        else:
            marker.write_text(why)

    def log(self) -> str:
        path = self.root / "kmsplugin.log"
        return path.read_text(errors="replace") if path.exists() else ""
