"""A Kubernetes KMS v2 plugin as the key provider: the same gRPC API (Status, Encrypt, Decrypt)
on the same Unix socket that kube-apiserver uses for its own encryption at rest, so the AWS,
Azure, GCP and Vault plugins hold Ferris's key-encryption key unchanged.

The plaintext sent to Encrypt is the data key bound to its holder (``base.bind``); what comes
back (ciphertext, key id, annotations) is stored whole and handed back to Decrypt. A Decrypt
that fails while Status says ``ok`` is a rejected key (MasterKeyMismatch upstream); one that
fails while the plugin is unreachable or unhealthy is KeyProviderUnavailable (retried)."""

from __future__ import annotations

import uuid
from pathlib import Path

import grpc

from ferris_operator.kek.base import KeyRejected, ProviderStatus, WrappedKey, bind, unbind
from ferris_operator.kek.kmsv2_api import api_pb2
from ferris_operator.problems import KeyProviderUnavailable

NAME = "kms-v2"
_SERVICE = "/v2.KeyManagementService/"
_TRANSIENT = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED)
MAX_CIPHERTEXT = 1024  # the API's own bound on what a plugin returns
MAX_KEY_ID = 1024


class KmsV2Provider:
    def __init__(self, socket: Path, timeout: float = 5.0) -> None:
        self._socket = socket
        self._timeout = timeout
        # A restarted plugin is found again within a second or two, and a call made meanwhile
        # waits for it (up to its timeout) instead of failing at once.
        self._channel = grpc.insecure_channel(
            f"unix://{socket}",
            options=[("grpc.initial_reconnect_backoff_ms", 200), ("grpc.max_reconnect_backoff_ms", 2000)],
        )
        self._status = self._channel.unary_unary(
            _SERVICE + "Status",
            request_serializer=api_pb2.StatusRequest.SerializeToString,
            response_deserializer=api_pb2.StatusResponse.FromString,
        )
        self._encrypt = self._channel.unary_unary(
            _SERVICE + "Encrypt",
            request_serializer=api_pb2.EncryptRequest.SerializeToString,
            response_deserializer=api_pb2.EncryptResponse.FromString,
        )
        self._decrypt = self._channel.unary_unary(
            _SERVICE + "Decrypt",
            request_serializer=api_pb2.DecryptRequest.SerializeToString,
            response_deserializer=api_pb2.DecryptResponse.FromString,
        )

    def __repr__(self) -> str:
        return f"KmsV2Provider(socket={str(self._socket)!r})"

    @property
    def name(self) -> str:
        return NAME

    def close(self) -> None:
        self._channel.close()

    def _unavailable(self, call: str, exc: grpc.RpcError) -> KeyProviderUnavailable:
        code = exc.code() if isinstance(exc, grpc.Call) else None
        detail = exc.details() if isinstance(exc, grpc.Call) else str(exc)
        return KeyProviderUnavailable(
            f"KMS v2 plugin at {self._socket}: {call} failed ({code.name if code else 'error'}: {detail})"
        )

    def wrap(self, holder: str, plaintext: bytes) -> WrappedKey:
        request = api_pb2.EncryptRequest(plaintext=bind(holder, plaintext), uid=str(uuid.uuid4()))
        try:
            answer = self._encrypt(request, timeout=self._timeout, wait_for_ready=True)
        except grpc.RpcError as exc:
            raise self._unavailable("Encrypt", exc) from None
        if not answer.ciphertext or len(answer.ciphertext) > MAX_CIPHERTEXT:
            raise KeyProviderUnavailable(
                f"KMS v2 plugin at {self._socket}: Encrypt returned no or oversized ciphertext"
            )
        if not answer.key_id or len(answer.key_id) > MAX_KEY_ID:
            raise KeyProviderUnavailable(f"KMS v2 plugin at {self._socket}: Encrypt returned no or oversized key id")
        return WrappedKey(NAME, answer.key_id, answer.ciphertext, dict(answer.annotations))

    def unwrap(self, holder: str, wrapped: WrappedKey) -> bytes:
        request = api_pb2.DecryptRequest(
            ciphertext=wrapped.ciphertext, uid=str(uuid.uuid4()), key_id=wrapped.key_id, annotations=wrapped.annotations
        )
        try:
            answer = self._decrypt(request, timeout=self._timeout, wait_for_ready=True)
        except grpc.RpcError as exc:
            unavailable = self._unavailable("Decrypt", exc)
            if isinstance(exc, grpc.Call) and exc.code() in _TRANSIENT:
                raise unavailable from None
            status = self.status()
            if not status.healthy:
                raise KeyProviderUnavailable(f"{unavailable}; {status.message}") from None
            raise KeyRejected(
                f"the KMS v2 plugin at {self._socket} is healthy and does not decrypt it with key "
                f"{wrapped.key_id!r} ({exc.details() if isinstance(exc, grpc.Call) else exc})"
            ) from None
        return unbind(holder, answer.plaintext)

    def status(self) -> ProviderStatus:
        try:
            answer = self._status(api_pb2.StatusRequest(), timeout=self._timeout)
        except grpc.RpcError as exc:
            return ProviderStatus(False, "", str(self._unavailable("Status", exc)))
        where = f"KMS v2 plugin at {self._socket}"
        if answer.version not in ("v2", "v2beta1"):
            return ProviderStatus(False, "", f"{where} speaks API version {answer.version!r}, not v2")
        if answer.healthz != "ok":
            return ProviderStatus(False, answer.key_id, f"{where} is unhealthy: {answer.healthz}")
        if not answer.key_id or len(answer.key_id) > MAX_KEY_ID:
            return ProviderStatus(False, "", f"{where} reports no valid key id")
        return ProviderStatus(True, answer.key_id, f"{where}: ok, key {answer.key_id}")
