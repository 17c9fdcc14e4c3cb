"""Events in a real PostgreSQL: stored once per namespace, source and id; announced; routed
once with counts per trigger; every run's end is exactly one event; paged and expired."""

from __future__ import annotations

import datetime
import uuid

import psycopg
from psycopg_pool import ConnectionPool

from ferris_operator import model
from ferris_operator.records import Event, NewRun
from ferris_operator.store.announcer import CoalescingAnnouncer, items_of
from ferris_operator.store.events import CHANNEL, EventStore
from ferris_operator.store.runs import RunStore


def _event(namespace: str = "team", source: str = "/outside", data: dict[str, object] | None = None) -> Event:
    return Event(uuid.uuid4().hex, "com.example.order", source, namespace, None, data or {"n": 1})


def test_an_event_is_stored_once_and_a_redelivery_finds_the_first(pool: ConnectionPool) -> None:
    events = EventStore(pool)
    first = _event()
    seq, duplicate = events.put(first, "user/alice")
    again, duplicate_again = events.put(first, "user/alice")
    assert not duplicate and duplicate_again and again == seq
    other_namespace, duplicate = events.put(Event(first.id, first.type, first.source, "other"), "user/bob")
    assert other_namespace != seq and not duplicate  # namespaces never share an event
    stored = events.get("team", seq)
    assert stored is not None and stored.event == first and stored.sent_by == "user/alice"
    assert events.get("other", seq) is None  # a namespace reads only its own


def test_a_stored_event_is_announced_when_it_commits(pool: ConnectionPool, database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as listener:
        listener.execute("LISTEN " + CHANNEL)
        seq, _ = EventStore(pool).put(_event(), "user/alice")
        heard = [n.payload for n in listener.notifies(timeout=5, stop_after=1)]
    assert heard == [str(seq)]


def test_events_stored_through_the_servers_announcer_are_announced_together_once_committed(
    pool: ConnectionPool, database_url: str
) -> None:
    announcer = CoalescingAnnouncer(pool, interval=0.05)
    announcer.start()
    events = EventStore(pool, announcer.announce)
    with psycopg.connect(database_url, autocommit=True) as listener:
        listener.execute("LISTEN " + CHANNEL)
        stored = [events.put(_event(data={"n": n}), "user/alice")[0] for n in range(20)]
        again = events.put_once_per_body(_event(data={"n": 0}), "user/alice")
        announcer.stop()
        heard = [n.payload for n in listener.notifies(timeout=1)]
    assert again == (stored[0], True)  # a duplicate is not announced again
    assert sorted(int(seq) for text in heard for seq in items_of(text) or []) == sorted(stored)
    assert len(heard) < 20


def test_routing_is_recorded_once_with_counts_per_trigger(pool: ConnectionPool) -> None:
    events = EventStore(pool)
    seq, _ = events.put(_event(), "user/alice")
    assert seq in [r.seq for r in events.unrouted(1000)]
    assert seq not in [r.seq for r in events.unrouted(1000, after=seq)]  # a pass moves on past it
    assert seq in [r.seq for r in events.unrouted(1000, after=seq - 1)]
    trigger = "trigger-" + uuid.uuid4().hex[:8]
    outcome = {"triggers": [trigger], "runs": ["r-1"], "refused": []}
    assert events.routed(seq, outcome, {trigger: (1, 0)})
    assert not events.routed(seq, outcome, {trigger: (1, 0)})  # routed again after a restart: counted once
    assert seq not in [r.seq for r in events.unrouted(1000)]
    matched, made, refused, last = events.counts(trigger)
    assert (matched, made, refused) == (1, 1, 0) and last is not None and last.seq == seq
    stored = events.get("team", seq)
    assert stored is not None and stored.outcome == outcome and stored.routed_at is not None


def test_every_run_end_is_exactly_one_event_with_the_run_and_its_depth(pool: ConnectionPool) -> None:
    runs, events = RunStore(pool), EventStore(pool)
    uid = "run-" + uuid.uuid4().hex[:8]
    runs.record_start(NewRun(uid, "team", "a-1", "a", "pkg-uid", 1, 1, "digest", ["s.py"], depth=3))
    assert runs.finish(uid, model.SUCCEEDED, "Succeeded", "done")
    assert not runs.finish(uid, model.FAILED, "Cancelled", "again")  # no second end, no second event
    ended = [r for r in events.page("team", None, 200)[0] if r.event.id == uid]
    assert len(ended) == 1
    event = ended[0].event
    assert (event.type, event.also_type) == (model.RUN_ENDED_TYPE, model.RUN_ENDED_CE_TYPE)
    assert event.source == model.run_event_source("team", "a-1") and event.subject == "a" and event.depth == 3
    assert event.data == {
        "finished_package": "a",
        "finished_package_id": "pkg-uid",
        "finished_run": "a-1",
        "finished_run_id": uid,
        "phase": "Succeeded",
        "reason": "Succeeded",
        "outputs": {},
    }
    refused = "run-" + uuid.uuid4().hex[:8]
    runs.record_failure_before_start(refused, "team", "a-2", "a", model.FAILED, "ChainTooDeep", "deep", depth=11)
    runs.record_failure_before_start(refused, "team", "a-2", "a", model.FAILED, "ChainTooDeep", "deep", depth=11)
    ended = [r for r in events.page("team", None, 200)[0] if r.event.id == refused]
    assert len(ended) == 1 and ended[0].event.depth == 11 and ended[0].event.data["reason"] == "ChainTooDeep"


def test_pages_go_newest_first_and_retention_removes_only_routed_events(pool: ConnectionPool) -> None:
    events = EventStore(pool)
    namespace = "page-" + uuid.uuid4().hex[:8]
    seqs = [events.put(_event(namespace), "user/alice")[0] for _ in range(5)]
    first, after = events.page(namespace, None, 2)
    second, after_second = events.page(namespace, after, 2)
    third, end = events.page(namespace, after_second, 2)
    assert [r.seq for r in first + second + third] == seqs[::-1] and end is None
    events.routed(seqs[0], {}, {})
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=1)
    events.expire(later)
    left = [r.seq for r in events.page(namespace, None, 10)[0]]
    assert seqs[0] not in left and set(seqs[1:]) <= set(left)  # unrouted ones are never dropped


def test_a_webhooks_plain_json_event_is_stored_once_per_source_and_body_whatever_its_headers(
    pool: ConnectionPool,
) -> None:
    """Its type and id come from unsigned headers: a replay that changes them is the same event."""
    events = EventStore(pool)
    source = "/eventsources/hook-" + uuid.uuid4().hex[:6]
    first = Event("d-1", "com.github.push", source, "team", None, {"ref": "main", "after": "abc"})
    seq, duplicate = events.put_once_per_body(first, "source/hook")
    assert not duplicate
    replayed = Event("d-2", "com.github.release", source, "team", None, {"ref": "main", "after": "abc"})
    assert events.put_once_per_body(replayed, "source/hook") == (seq, True)
    other = Event("d-3", "com.github.push", source, "team", None, {"ref": "main", "after": "def"})
    assert events.put_once_per_body(other, "source/hook")[1] is False
    elsewhere = Event("d-1", "com.github.push", source, "other-team", None, {"ref": "main", "after": "abc"})
    assert events.put_once_per_body(elsewhere, "source/hook")[1] is False
