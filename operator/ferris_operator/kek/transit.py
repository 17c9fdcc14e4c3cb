"""A Vault or OpenBao transit engine as the key provider: data keys are encrypted and decrypted
by the engine's named key, which never leaves it. The operator logs in with its ServiceAccount
token (Kubernetes auth, a role) or uses a token mounted from a Secret.

The stored key id is ``<transit key>:v<version>`` (the engine's ciphertext names its version
too), so a rotation inside the engine is noticed by ``ferris keys status`` and moved by
``ferris keys rewrap``. Errors: the engine refusing a ciphertext (400) is KeyRejected; no
answer, 5xx, a sealed engine or a refused login is KeyProviderUnavailable."""

from __future__ import annotations

import base64
import json
import re
import ssl
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ferris_operator.kek.base import KeyRejected, ProviderStatus, WrappedKey, bind, unbind
from ferris_operator.problems import KeyProviderUnavailable

NAME = "transit"
SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
_VERSION = re.compile(r"^vault:v(\d+):")
MAX_ANSWER = 64 * 1024


class _Refused(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status


class TransitProvider:
    def __init__(
        self,
        address: str,
        key: str,
        mount: str = "transit",
        token_file: Path | None = None,
        role: str = "",
        auth_mount: str = "kubernetes",
        ca_file: Path | None = None,
        timeout: float = 5.0,
        jwt_file: Path = SERVICE_ACCOUNT_TOKEN,
    ) -> None:
        self._address = address.rstrip("/")
        self._key = key
        self._mount = mount.strip("/")
        self._token_file = token_file
        self._role = role
        self._auth_mount = auth_mount.strip("/")
        self._jwt_file = jwt_file
        self._timeout = timeout
        self._tls = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        self._token = ""
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TransitProvider(address={self._address!r}, mount={self._mount!r}, key={self._key!r})"

    @property
    def name(self) -> str:
        return NAME

    # ---- HTTP -----------------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: dict[str, Any] | None, token: str) -> dict[str, Any]:
        request = urllib.request.Request(  # noqa: S310 - the address is the operator's setting
            f"{self._address}/v1/{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Content-Type": "application/json", **({"X-Vault-Token": token} if token else {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout, context=self._tls) as answer:  # noqa: S310
                raw = answer.read(MAX_ANSWER + 1)
        except urllib.error.HTTPError as exc:
            try:
                errors = json.loads(exc.read(MAX_ANSWER)).get("errors") or []
            except (ValueError, AttributeError):
                errors = []
            raise _Refused(exc.code, "; ".join(str(e) for e in errors)[:500] or exc.reason) from None
        except (OSError, ValueError) as exc:
            raise KeyProviderUnavailable(f"transit at {self._address}: {type(exc).__name__}: {exc}") from None
        if len(raw) > MAX_ANSWER:
            raise KeyProviderUnavailable(f"transit at {self._address}: answer over {MAX_ANSWER} bytes")
        try:
            found = json.loads(raw) if raw else {}
        except ValueError:
            raise KeyProviderUnavailable(f"transit at {self._address}: answer is not JSON") from None
        return found if isinstance(found, dict) else {}

    def _login(self) -> str:
        if self._token_file is not None:
            try:
                return self._token_file.read_text().strip()
            except OSError as exc:
                raise KeyProviderUnavailable(f"transit token file {self._token_file}: {exc.strerror}") from None
        try:
            jwt = self._jwt_file.read_text().strip()
        except OSError as exc:
            raise KeyProviderUnavailable(f"ServiceAccount token {self._jwt_file}: {exc.strerror}") from None
        try:
            answer = self._call("POST", f"auth/{self._auth_mount}/login", {"role": self._role, "jwt": jwt}, "")
        except _Refused as refused:
            raise KeyProviderUnavailable(
                f"transit at {self._address}: Kubernetes login as role {self._role!r} refused ({refused.status}: "
                f"{refused}); check the role's bound ServiceAccount and namespace"
            ) from None
        token = str((answer.get("auth") or {}).get("client_token") or "")
        if not token:
            raise KeyProviderUnavailable(f"transit at {self._address}: the login answered no client token")
        return token

    def _authorized(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        """A call with the current token; a 403 logs in again once (a token expired)."""
        for attempt in range(2):
            with self._lock:
                if not self._token or attempt:
                    self._token = self._login()
                token = self._token
            try:
                return self._call(method, path, body, token)
            except _Refused as refused:
                if refused.status == 403 and attempt == 0:
                    continue
                raise
        raise AssertionError("unreachable")

    def _engine(self, method: str, path: str, body: dict[str, Any] | None, call: str) -> dict[str, Any]:
        try:
            return self._authorized(method, path, body)
        except _Refused as refused:
            if refused.status == 400:
                raise KeyRejected(f"transit {call} refused it: {refused}") from None
            raise KeyProviderUnavailable(
                f"transit at {self._address}: {call} failed ({refused.status}: {refused})"
            ) from None

    # ---- the provider ---------------------------------------------------------------------------
    def _key_path(self, action: str, key: str) -> str:
        return f"{self._mount}/{action}/{quote(key, safe='')}"

    def wrap(self, holder: str, plaintext: bytes) -> WrappedKey:
        body = {"plaintext": base64.b64encode(bind(holder, plaintext)).decode()}
        data = self._engine("POST", self._key_path("encrypt", self._key), body, "encrypt").get("data") or {}
        ciphertext = str(data.get("ciphertext") or "")
        version = _VERSION.match(ciphertext)
        if version is None:
            raise KeyProviderUnavailable(f"transit at {self._address}: encrypt answered no vault:vN: ciphertext")
        return WrappedKey(NAME, f"{self._key}:v{version.group(1)}", ciphertext.encode())

    def unwrap(self, holder: str, wrapped: WrappedKey) -> bytes:
        key = wrapped.key_id.rsplit(":v", 1)[0] or self._key
        body = {"ciphertext": wrapped.ciphertext.decode("ascii", "replace")}
        data = self._engine("POST", self._key_path("decrypt", key), body, "decrypt").get("data") or {}
        try:
            bound = base64.b64decode(str(data.get("plaintext") or ""), validate=True)
        except ValueError:
            raise KeyRejected("transit decrypt answered no plaintext") from None
        return unbind(holder, bound)

    def status(self) -> ProviderStatus:
        where = f"transit at {self._address}"
        try:
            data = self._authorized("GET", self._key_path("keys", self._key), None).get("data") or {}
        except _Refused as refused:
            return ProviderStatus(False, "", f"{where}: reading key {self._key!r} failed ({refused.status}: {refused})")
        except KeyProviderUnavailable as exc:
            return ProviderStatus(False, "", str(exc))
        latest = data.get("latest_version")
        if not isinstance(latest, int) or latest < 1:
            return ProviderStatus(False, "", f"{where}: key {self._key!r} reports no latest version")
        key_id = f"{self._key}:v{latest}"
        return ProviderStatus(True, key_id, f"{where}: ok, key {key_id}")
