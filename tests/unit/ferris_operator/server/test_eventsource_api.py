"""Webhooks through a FerrisEventSource with fakes for the cluster, the vault and the store:
authentication comes first (a correctly signed event is never limited, whatever else its
address sent), failures are counted per sender address (read from X-Forwarded-For only behind
a trusted proxy), and a spent address costs no read of the API server or the vault."""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import uuid

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ferris_operator.records import Event, EventRecord
from ferris_operator.server.addresses import client_address, networks
from ferris_operator.server.eventsource_api import EventSourceApi
from ferris_operator.triggers import signatures
from ferris_operator.triggers.sources import VAULT_KEY
from ferris_operator.work.ratelimit import TokenBuckets
from tests.unit.world import FakeKube, FakeVault

KEY = b"k" * 32
PATH = "/api/v1/namespaces/shop/eventsources/orders/events"
INGRESS = "10.0.0.7"


class FakeEvents:
    def __init__(self) -> None:
        self.stored: list[Event] = []

    def put(self, event: Event, sent_by: str) -> tuple[int, bool]:
        self.stored.append(event)
        return len(self.stored), False

    put_once_per_body = put

    def get(self, namespace: str, seq: int) -> EventRecord | None:
        now = datetime.datetime.now(datetime.UTC)
        return EventRecord(seq, self.stored[seq - 1], "source/orders", now, now, {"triggers": [], "runs": []})


def signed_event() -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {
            "specversion": "1.0",
            "id": uuid.uuid4().hex,
            "source": "/shop",
            "type": "com.example.order",
            "time": datetime.datetime.now(datetime.UTC).isoformat(),
            "data": {},
        }
    ).encode()
    headers = {"Content-Type": "application/cloudevents+json", "X-Hub-Signature-256": signatures.sign(KEY, body)}
    return body, headers


class World:
    def __init__(self, trusted: tuple[str, ...] = ()) -> None:
        self.kube, self.vault, self.events = FakeKube(), FakeVault(), FakeEvents()
        self.kube.put("FerrisEventSource", {"metadata": {"namespace": "shop", "name": "orders", "uid": "src-uid"}})
        self.vault.ingest("shop", "orders", "src-uid", {VAULT_KEY: base64.b64encode(KEY).decode()})
        self.api = EventSourceApi(
            self.kube,
            self.vault,
            self.events,  # type: ignore[arg-type]
            TokenBuckets(burst=5, per_second=0.01),
            trusted_proxies=networks(trusted),
        )

    def send(self, calls: list[tuple[bytes, dict[str, str]]]) -> list[int]:
        async def go() -> list[int]:
            app = web.Application()
            self.api.add_to(app)
            async with TestClient(TestServer(app)) as client:
                statuses = []
                for body, headers in calls:
                    response = await client.post(PATH + "?wait=0", data=body, headers=headers)
                    statuses.append(response.status)
                return statuses

        return asyncio.run(go())


def forged() -> tuple[bytes, dict[str, str]]:
    body, headers = signed_event()
    return body, {**headers, "X-Hub-Signature-256": signatures.sign(b"w" * 32, body)}


def test_a_signed_event_gets_through_an_address_that_spent_its_failures_on_forged_ones() -> None:
    """Behind an Ingress every sender has one address: forged deliveries used to lock out the
    genuine sender with 429. Now they are refused without a read once the address has spent
    its failures, and the genuine signature still gets in."""
    world = World()
    statuses = world.send([signed_event(), *(forged() for _ in range(8)), signed_event()])
    assert statuses[0] == 200 and statuses[1:6] == [401] * 5 and statuses[6:9] == [429] * 3
    assert statuses[9] == 200 and len(world.events.stored) == 2
    assert len(world.kube.reads) == 6 and len(world.vault.reads) == 6  # none for the refused flood, nor the last


def test_a_spent_address_without_a_key_verified_lately_gets_429_and_costs_nothing() -> None:
    world = World()
    statuses = world.send([*(forged() for _ in range(7))])
    assert statuses == [401] * 5 + [429] * 2
    assert len(world.kube.reads) == 5


def test_behind_a_trusted_proxy_each_sender_is_limited_by_its_own_address() -> None:
    world = World(trusted=(INGRESS + "/32",))
    world.api.trusted_proxies = networks((INGRESS + "/32", "127.0.0.0/8"))  # the test client's address too
    attacker = {"X-Forwarded-For": "1.2.3.4"}
    sender = {"X-Forwarded-For": "5.6.7.8"}
    calls = [(b, {**h, **attacker}) for b, h in (forged() for _ in range(7))]
    calls += [(b, {**h, **sender}) for b, h in (forged() for _ in range(2))]
    statuses = world.send(calls)
    assert statuses == [401] * 5 + [429] * 2 + [401] * 2  # the other sender has failures of its own left


def test_the_senders_address_is_forwarded_only_by_a_trusted_proxy_and_read_from_the_right() -> None:
    trusted = networks(("10.0.0.0/8",))
    assert client_address("10.0.0.7", ["6.6.6.6, 1.2.3.4"], trusted) == "1.2.3.4"  # what the client wrote: ignored
    assert client_address("10.0.0.7", ["1.2.3.4, 10.0.0.9"], trusted) == "1.2.3.4"  # a chain of trusted proxies
    assert client_address("1.2.3.4", ["9.9.9.9"], trusted) == "1.2.3.4"  # not a proxy: its header means nothing
    assert client_address("10.0.0.7", ["not-an-address"], trusted) == "10.0.0.7"  # no keys minted from garbage
    assert client_address("10.0.0.7", [], trusted) == "10.0.0.7"
    assert client_address(None, [], ()) == "unknown"


def test_a_trusted_proxy_that_is_not_an_address_is_refused_naming_it() -> None:
    try:
        networks(("10.0.0.0/8", "ingress"))
    except ValueError as exc:
        assert "'ingress'" in str(exc) and "CIDR" in str(exc)
    else:
        raise AssertionError("no error")
