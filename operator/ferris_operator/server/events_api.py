"""Events through the Ferris server, as the user: send one (CloudEvents, structured or binary
mode; ``create ferrisevents``), list a namespace's events and read one (``list``/``get
ferrisevents``). The routes join the user API's route table, so the one authorization point
serves them too.

An event is stored before it is answered. The answer waits (``?wait=``, 5 s by default, at most
30) until the operator has routed it and says what happened: the triggers it matched, the runs
made, the refusals; a user who already holds the most answers open (api.HELD_PER_USER) is
answered at once. Routed later, the answer is 202 with the same fields, ``routed: false``,
and the event's address to ask again. A redelivered event (same source and id) is not stored
twice: the answer is the first one's, with ``duplicate: true``."""

from __future__ import annotations

import asyncio

from aiohttp import web

from ferris_operator import model
from ferris_operator.ports import EventStorePort
from ferris_operator.records import Access, Event, EventRecord, User
from ferris_operator.server import queries, views
from ferris_operator.server.api import (
    HELD_PER_USER,
    HELD_TOTAL,
    LIST_EVENTS,
    PREFIX,
    SEND_EVENTS,
    Route,
    TooManyHeld,
    held,
)
from ferris_operator.server.queries import QueryError
from ferris_operator.server.reading import read_at_most
from ferris_operator.triggers import cloudevents
from ferris_operator.triggers.cloudevents import EventError
from ferris_operator.work.ratelimit import Holds

GET_EVENT = Access("get", model.EVENTS)
WAIT_SECONDS, MAX_WAIT_SECONDS = 5.0, 30.0
FIRST_POLL, MAX_POLL = 0.02, 0.25
MAX_PAGE = 200  # the store's own limit


def check_watched(namespace: str, watched: tuple[str, ...]) -> None:
    """An event for a namespace the operator does not watch would never be routed: 400 now."""
    if watched and namespace not in watched:
        raise QueryError(
            f"namespace {namespace} is not watched by the Ferris operator (the chart's watchNamespaces:"
            f" {', '.join(watched)}): an event there would start nothing; send it to a watched namespace"
        )


class EventsApi:
    def __init__(self, events: EventStorePort, watched: tuple[str, ...] = (), holds: Holds | None = None) -> None:
        self.events = events
        self.watched = watched  # the operator's watchNamespaces (empty: every namespace)
        self.holds = holds or Holds(HELD_PER_USER, HELD_TOTAL)  # shared with the user API's follows

    def routes(self) -> list[Route]:
        return [
            Route(
                "POST",
                f"{PREFIX}/events",
                (SEND_EVENTS,),
                self.send,
                "send a CloudEvent (structured or binary mode); answers what it started once routed",
            ),
            Route(
                "GET", f"{PREFIX}/events", (LIST_EVENTS,), self.list, "a page of the namespace's events, newest first"
            ),
            Route(
                "GET",
                f"{PREFIX}/events/{{seq}}",
                (GET_EVENT,),
                self.get,
                "one event, with its data and what it started",
            ),
        ]

    async def send(self, request: web.Request, user: User) -> web.StreamResponse:
        namespace = request.match_info["namespace"]
        check_watched(namespace, self.watched)
        wait = wait_seconds(request.query.get("wait"))
        body = await read_at_most(request, cloudevents.MAX_BODY)
        try:
            incoming = cloudevents.parse(request.headers.get("Content-Type", ""), request.headers, body)
        except EventError as exc:
            raise QueryError(str(exc)) from None
        event = Event(incoming.id, incoming.type, incoming.source, namespace, incoming.subject, incoming.data)
        sender = f"user/{user.name}"[:300]
        try:
            with held(self.holds, user):
                return await store_and_answer(self.events, event, sender, wait)
        except TooManyHeld:  # the user holds the most answers open: stored, answered at once (202)
            return await store_and_answer(self.events, event, sender, 0)

    async def list(self, request: web.Request, user: User) -> web.StreamResponse:
        namespace = request.match_info["namespace"]
        limit = queries.page_limit(request.query.get("limit"), MAX_PAGE)
        before = _seq(request.query["continue"]) if request.query.get("continue") else None
        records, after = await asyncio.to_thread(self.events.page, namespace, before, limit)
        return web.json_response(
            {"items": [views.event(r, with_data=False) for r in records], "continue": str(after) if after else None}
        )

    async def get(self, request: web.Request, user: User) -> web.StreamResponse:
        namespace = request.match_info["namespace"]
        seq = _seq(request.match_info["seq"])
        record = await asyncio.to_thread(self.events.get, namespace, seq)
        if record is None:
            return web.json_response({"error": f"no event {seq} in namespace {namespace}"}, status=404)
        return web.json_response(views.event(record, with_data=True))


async def store_and_answer(
    events: EventStorePort, event: Event, sent_by: str, wait: float, once_per_body: bool = False
) -> web.Response:
    """Store the event (once; ``once_per_body``: once per source and data), wait up to ``wait``
    seconds for the operator to route it, and answer what it started: 200 once routed, else 202
    with where to ask again."""
    put = events.put_once_per_body if once_per_body else events.put
    seq, duplicate = await asyncio.to_thread(put, event, sent_by)
    record = await _routed(events, event.namespace, seq, wait)
    answer = {**views.event(record, with_data=False), "duplicate": duplicate}
    if record.routed_at is None:
        answer["see"] = f"/api/v1/namespaces/{event.namespace}/events/{seq}"
        return web.json_response(answer, status=202)
    return web.json_response(answer, status=200)


async def _routed(events: EventStorePort, namespace: str, seq: int, wait: float) -> EventRecord:
    """The stored event, once routed or when ``wait`` is over."""
    loop = asyncio.get_running_loop()
    deadline, pause = loop.time() + wait, FIRST_POLL
    while True:
        record = await asyncio.to_thread(events.get, namespace, seq)
        assert record is not None  # stored above; retention removes only old routed events
        if record.routed_at is not None or loop.time() >= deadline:
            return record
        await asyncio.sleep(min(pause, max(0.0, deadline - loop.time())))
        pause = min(pause * 2, MAX_POLL)


def wait_seconds(text: str | None) -> float:
    if text is None:
        return WAIT_SECONDS
    try:
        value = float(text)
    except ValueError:
        raise QueryError(f"wait: {text!r} is not a number of seconds") from None
    if not 0 <= value <= MAX_WAIT_SECONDS:
        raise QueryError(f"wait: between 0 and {MAX_WAIT_SECONDS:.0f} seconds")
    return value


def _seq(text: str) -> int:
    if not text.isdigit() or len(text) > 18:
        raise QueryError(f"{text!r} is not an event number")
    return int(text)
