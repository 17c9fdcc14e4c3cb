"""Signed events from senders without a Kubernetes identity (webhooks), through a
FerrisEventSource: ``POST /api/v1/namespaces/NS/eventsources/NAME/events``.

Not behind the user API's guard (there is no user): the HMAC signature over the body, with
the event source's key from the vault, is the credential. Whatever is wrong with it — no such
event source, no key stored yet, no header, another signature — is the same 401, and nothing is
stored. A signed event is stored and answered like one sent by a user.

Authentication comes first, as in the user API: a correctly signed event is never limited, even
from an address that also sent many bad ones (behind an Ingress, every sender's address is the
Ingress's, unless it is a trusted proxy: addresses.py). Failures are counted per sender address;
once an address has spent them, its requests are checked only against keys verified in the last
minute (no API or database read for it) and otherwise refused with 429, so a flood costs neither
the API server nor the key provider anything."""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiohttp import web

from ferris_operator import model
from ferris_operator.ports import EventStorePort, KubePort, VaultPort
from ferris_operator.process import metrics
from ferris_operator.records import Event
from ferris_operator.server import queries
from ferris_operator.server.addresses import Network, client_address
from ferris_operator.server.events_api import store_and_answer, wait_seconds
from ferris_operator.server.queries import QueryError
from ferris_operator.server.reading import read_at_most
from ferris_operator.store.db import DATABASE_ERRORS
from ferris_operator.triggers import cloudevents, signatures
from ferris_operator.triggers.cloudevents import EventError
from ferris_operator.triggers.sources import VAULT_KEY
from ferris_operator.work.ratelimit import TokenBuckets

log = logging.getLogger("ferris.server.eventsources")
PATH = "/api/v1/namespaces/{namespace}/eventsources/{name}/events"
REFUSED = "the signature does not match (or there is no such event source); nothing was stored"


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


MAX_KEYS = 10_000
KEY_SECONDS = 60.0  # how long a verified key answers for a sender that has spent its failures


@dataclass(frozen=True)
class VerifiedKey:
    at: float
    spec: signatures.SourceSpec
    key: bytes


class EventSourceApi:
    def __init__(
        self,
        kube: KubePort,
        vault: VaultPort,
        events: EventStorePort,
        limiter: TokenBuckets | None = None,
        trusted_proxies: Sequence[Network] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kube = kube
        self.vault = vault
        self.events = events
        self.limiter = limiter or TokenBuckets()
        self.trusted_proxies = tuple(trusted_proxies)
        self.clock = clock
        self._keys: dict[tuple[str, str], VerifiedKey] = {}  # written from reading threads
        self._keys_lock = threading.Lock()

    def add_to(self, app: web.Application) -> None:
        app.router.add_post(PATH, self.receive)

    async def receive(self, request: web.Request) -> web.StreamResponse:
        forwarded = request.headers.getall("X-Forwarded-For", [])
        sender = client_address(request.remote, forwarded, self.trusted_proxies)
        try:
            namespace = queries.name(request.match_info["namespace"], "namespace")
            name = queries.name(request.match_info["name"], "event source")
            wait = wait_seconds(request.query.get("wait"))
            body = await read_at_most(request, cloudevents.MAX_BODY)
            if len(body) > cloudevents.MAX_BODY:
                return _error(413, f"the event is over the limit of {cloudevents.MAX_BODY} bytes")
            if self.limiter.blocked(sender):
                spec = self._signed_by_known_key(namespace, name, request, body)
                if spec is None:
                    metrics.SERVER_REFUSED.labels("rate-limited").inc()
                    return _error(429, "too many refused events from this address; slow down")
            else:
                spec = await asyncio.to_thread(self._signed_by, namespace, name, request, body)
            if spec is None:
                self.limiter.spend(sender)
                metrics.SERVER_REFUSED.labels("bad-signature").inc()
                return _error(401, REFUSED)
            content_type = request.headers.get("Content-Type", "")
            incoming = signatures.incoming(spec, content_type, request.headers, body, model.utcnow())
            event = Event(incoming.id, incoming.type, incoming.source, namespace, incoming.subject, incoming.data)
            plain = content_type.split(";", 1)[0].strip().lower() != cloudevents.STRUCTURED
            return await store_and_answer(self.events, event, f"source/{name}", wait, once_per_body=plain)
        except (QueryError, EventError) as exc:
            return _error(400, str(exc))
        except DATABASE_ERRORS:
            metrics.DATABASE_ERRORS.inc()
            return _error(503, "database unavailable; retry later")

    def _signed_by_known_key(
        self, namespace: str, name: str, request: web.Request, body: bytes
    ) -> signatures.SourceSpec | None:
        """The spec when a key verified lately for this event source signs the request."""
        with self._keys_lock:
            known = self._keys.get((namespace, name))
        if known is None or self.clock() - known.at > KEY_SECONDS:
            return None
        return (
            known.spec
            if signatures.verify(known.key, body, request.headers.get(known.spec.header), known.spec)
            else None
        )

    def _signed_by(self, namespace: str, name: str, request: web.Request, body: bytes) -> signatures.SourceSpec | None:
        """The event source's spec when the request carries its signature; None otherwise."""
        found = self.kube.get_event_source(namespace, name)
        if found is None or found["metadata"].get("deletionTimestamp"):
            with self._keys_lock:
                self._keys.pop((namespace, name), None)
            return None
        spec = signatures.source_spec(name, found.get("spec") or {})
        stored = self.vault.read(found["metadata"]["uid"]).values.get(VAULT_KEY)
        if not isinstance(stored, str):
            log.info("event source %s/%s has no key stored yet", namespace, name)
            return None
        key = base64.b64decode(stored)
        self._remember(namespace, name, VerifiedKey(self.clock(), spec, key))
        return spec if signatures.verify(key, body, request.headers.get(spec.header), spec) else None

    def _remember(self, namespace: str, name: str, verified: VerifiedKey) -> None:
        with self._keys_lock:  # another thread may be reading or remembering at once
            self._keys[(namespace, name)] = verified
            if len(self._keys) > MAX_KEYS:  # the oldest go first
                for stale in sorted(self._keys, key=lambda k: self._keys[k].at)[: len(self._keys) // 2]:
                    del self._keys[stale]
