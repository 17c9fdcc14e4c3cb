"""Signed events from senders without a Kubernetes identity (webhooks), through a
FerrisEventSource: ``POST /api/v1/namespaces/NS/eventsources/NAME/events``.

Not behind the user API's guard (there is no user): the HMAC signature over the body, with
the event source's key from the vault, is the credential. Whatever is wrong with it — no such
event source, no key stored yet, no header, another signature — is the same 401, counted
against the sender's address (429 once it has spent its failures), and nothing is stored. A
signed event is stored and answered like one sent by a user."""

from __future__ import annotations

import asyncio
import base64
import logging

from aiohttp import web

from ferris_operator import metrics, model
from ferris_operator.ports import EventStorePort, KubePort, VaultPort
from ferris_operator.ratelimit import TokenBuckets
from ferris_operator.records import Event
from ferris_operator.server import queries
from ferris_operator.server.events_api import store_and_answer, wait_seconds
from ferris_operator.server.queries import QueryError
from ferris_operator.store.db import DATABASE_ERRORS
from ferris_operator.triggers import cloudevents, signatures
from ferris_operator.triggers.cloudevents import EventError
from ferris_operator.triggers.sources import VAULT_KEY

log = logging.getLogger("ferris.server.eventsources")
PATH = "/api/v1/namespaces/{namespace}/eventsources/{name}/events"
REFUSED = "the signature does not match (or there is no such event source); nothing was stored"


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class EventSourceApi:
    def __init__(
        self, kube: KubePort, vault: VaultPort, events: EventStorePort, limiter: TokenBuckets | None = None
    ) -> None:
        self.kube = kube
        self.vault = vault
        self.events = events
        self.limiter = limiter or TokenBuckets()

    def add_to(self, app: web.Application) -> None:
        app.router.add_post(PATH, self.receive)

    async def receive(self, request: web.Request) -> web.StreamResponse:
        sender = request.remote or "unknown"
        if self.limiter.blocked(sender):
            return _error(429, "too many refused events from this address; slow down")
        try:
            namespace = queries.name(request.match_info["namespace"], "namespace")
            name = queries.name(request.match_info["name"], "event source")
            wait = wait_seconds(request.query.get("wait"))
            body = await request.content.read(cloudevents.MAX_BODY + 1)
            if len(body) > cloudevents.MAX_BODY:
                return _error(413, f"the event is over the limit of {cloudevents.MAX_BODY} bytes")
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

    def _signed_by(self, namespace: str, name: str, request: web.Request, body: bytes) -> signatures.SourceSpec | None:
        """The event source's spec when the request carries its signature; None otherwise."""
        found = self.kube.get_event_source(namespace, name)
        if found is None or found["metadata"].get("deletionTimestamp"):
            return None
        spec = signatures.source_spec(name, found.get("spec") or {})
        stored = self.vault.read(found["metadata"]["uid"]).values.get(VAULT_KEY)
        if not isinstance(stored, str):
            log.info("event source %s/%s has no key stored yet", namespace, name)
            return None
        key = base64.b64decode(stored)
        return spec if signatures.verify(key, body, request.headers.get(spec.header), spec) else None
