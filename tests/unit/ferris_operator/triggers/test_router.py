"""Routing events into runs, in the fake world's API server with a fake event store: namespaces
are walls, one run per target, a second routing finds the runs of the first, a run of the same
name that is not the event's is refused, suspended triggers start nothing, and chains stop."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterator, Mapping
from typing import Any

from ferris_operator import model, reasons
from ferris_operator.bodies import TriggerBody
from ferris_operator.records import Event, EventRecord
from ferris_operator.triggers.router import EventRouter
from tests.unit.ferris_operator.fakes import PROOF
from tests.unit.world import FakeJoinStore, FakeKube, Refusal

NOW = datetime.datetime(2026, 11, 30, tzinfo=datetime.UTC)


def trigger(namespace: str, name: str, *packages: str, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"namespace": namespace, "name": name, "uid": f"uid-{namespace}-{name}"},
        "spec": {"targets": [{"packageRef": {"name": p}} for p in packages], **spec},
    }


class ForGood(Exception):
    """What the API server refuses for good (a 403, a quota): Kube.refusal names it."""


class Kube(FakeKube):
    """The world's API server holding ``triggers``, with namespaces whose calls fail."""

    def __init__(self, *triggers: dict[str, Any]) -> None:
        super().__init__()
        for held in triggers:
            self.put("FerrisTrigger", held)
        self.listing_fails: dict[str, Exception] = {}  # namespace -> what listing its triggers raises
        self.create_fails: dict[str, Exception] = {}  # namespace -> what creating a run there raises

    @property
    def runs(self) -> dict[tuple[str, str], dict[str, Any]]:
        return {(ns, name): body for (kind, ns, name), body in self.objects.items() if kind == "FerrisRun"}

    def iter_triggers(self, namespaces: tuple[str, ...]) -> Iterator[TriggerBody]:
        for namespace in namespaces:
            if namespace in self.listing_fails:
                raise self.listing_fails[namespace]
        return super().iter_triggers(namespaces)

    def refusal(self, exc: BaseException) -> str | None:
        return str(exc) if isinstance(exc, ForGood) else super().refusal(exc)

    def create_or_get(self, obj: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        if obj["metadata"]["namespace"] in self.create_fails:
            raise self.create_fails[obj["metadata"]["namespace"]]
        return super().create_or_get(obj)


class Events:
    def __init__(self, *events: Event) -> None:
        self.records = [EventRecord(i + 1, e, "user/alice", NOW) for i, e in enumerate(events)]
        self.outcomes: dict[int, dict[str, Any]] = {}
        self.counted: dict[str, list[int]] = {}

    def unrouted(self, limit: int = 100, after: int = 0) -> list[EventRecord]:
        return [r for r in self.records if r.seq not in self.outcomes and r.seq > after][:limit]

    def routed(self, seq: int, outcome: dict[str, Any], counts: dict[str, tuple[int, int]]) -> bool:
        if seq in self.outcomes:
            return False
        self.outcomes[seq] = outcome
        for uid, (made, refused) in counts.items():
            total = self.counted.setdefault(uid, [0, 0, 0])
            total[0], total[1], total[2] = total[0] + 1, total[1] + made, total[2] + refused
        return True

    def counts(self, trigger_uid: str) -> tuple[int, int, int, EventRecord | None]:
        matched, made, refused = self.counted.get(trigger_uid, [0, 0, 0])
        return matched, made, refused, self.records[-1]


class Runs:
    def __init__(self, known: tuple[tuple[str, str], ...] = ()) -> None:
        self._known = set(known)

    def known(self, namespace: str, name: str, trigger: str) -> bool:
        return trigger == model.TRIGGER_EVENT and (namespace, name) in self._known


def order(namespace: str = "team", depth: int = 0, event_id: str = "e-1") -> Event:
    return Event(event_id, "com.example.order", "/shop", namespace, None, {"item": "book"}, depth)


def router(
    kube: Kube, events: Events, runs: Runs | None = None, max_depth: int = 10, joins: FakeJoinStore | None = None
) -> EventRouter:
    return EventRouter(kube, events, runs or Runs(), max_depth, PROOF, joins=joins)  # type: ignore[arg-type]


def test_an_event_starts_one_run_per_target_with_its_data_as_params_in_its_namespace() -> None:
    kube = Kube(trigger("team", "orders", "bill", "ship"), trigger("other", "orders", "steal"))
    events = Events(order())
    assert router(kube, events).route_pending() == 1
    made = list(kube.runs.values())
    assert {r["spec"]["packageRef"]["name"] for r in made} == {"bill", "ship"}  # nothing in "other"
    assert all(r["metadata"]["namespace"] == "team" for r in made)
    run = made[0]
    assert run["spec"]["params"] == {"item": "book", "origin_event_type": "com.example.order"}
    assert run["spec"]["trigger"] == model.TRIGGER_EVENT
    assert run["metadata"]["annotations"][model.ANNOTATION_CHAIN_DEPTH] == "1"
    assert run["metadata"]["annotations"][model.ANNOTATION_EVENT] == "/shop e-1"
    assert events.outcomes[1]["triggers"] == ["orders"] and len(events.outcomes[1]["runs"]) == 2
    plural, namespace, name, status = kube.statuses[0]
    assert (plural, namespace, name) == (model.TRIGGERS, "team", "orders")
    assert (status["events"], status["runs"], status["refused"]) == (1, 2, 0)


def test_routing_again_after_a_crash_finds_the_same_runs_and_makes_none() -> None:
    kube = Kube(trigger("team", "orders", "bill"))
    first = Events(order())
    router(kube, first).route_pending()
    again = Events(order())  # the same event, not marked routed: the operator died before
    router(kube, again).route_pending()
    assert len(kube.runs) == 1 and again.outcomes[1]["runs"] == first.outcomes[1]["runs"]
    assert again.outcomes[1]["refused"] == []


def test_a_run_of_the_same_name_that_is_not_the_events_is_refused_and_reported() -> None:
    kube = Kube(trigger("team", "orders", "bill"))
    probe = Events(order())
    router(Kube(trigger("team", "orders", "bill")), probe).route_pending()
    name = probe.outcomes[1]["runs"][0]
    kube.put("FerrisRun", {"metadata": {"name": name, "namespace": "team"}, "spec": {"packageRef": {"name": "x"}}})
    events = Events(order())
    router(kube, events).route_pending()
    refused = events.outcomes[1]["refused"]
    assert refused and refused[0]["reason"] == reasons.TRIGGERED_RUN_NAME_TAKEN
    assert kube.events[0].reason == reasons.TRIGGERED_RUN_NAME_TAKEN and name in kube.events[0].message


def test_a_perfect_copy_of_the_events_run_made_first_without_the_stamp_is_refused() -> None:
    probe_kube = Kube(trigger("team", "orders", "bill"))
    probe = Events(order())
    router(probe_kube, probe).route_pending()
    genuine = next(iter(probe_kube.runs.values()))
    assert PROOF.made_run(genuine)
    copy = {**genuine, "metadata": {k: v for k, v in genuine["metadata"].items()}}
    copy["metadata"]["annotations"] = {
        k: v for k, v in genuine["metadata"]["annotations"].items() if k != model.ANNOTATION_STAMP
    }
    kube = Kube(trigger("team", "orders", "bill"))
    kube.put("FerrisRun", copy)
    events = Events(order())
    router(kube, events).route_pending()
    refused = events.outcomes[1]["refused"]
    assert refused and refused[0]["reason"] == reasons.TRIGGERED_RUN_NAME_TAKEN


def test_a_run_the_api_server_refuses_is_counted_and_the_event_is_still_routed() -> None:
    kube = Kube(trigger("team", "orders", "bill"))
    kube.create_fails["team"] = Refusal("spec.packageRef.name: Invalid value")
    events = Events(order())
    router(kube, events).route_pending()
    assert events.outcomes[1]["refused"][0]["reason"] == reasons.INVALID_TRIGGER
    assert kube.statuses[0][3]["refused"] == 1


def test_suspended_filtered_out_and_invalid_triggers_start_nothing() -> None:
    kube = Kube(
        trigger("team", "paused", "bill", suspend=True),
        trigger("team", "elsewhere", "bill", filter={"source": "/other"}),
        {"metadata": {"namespace": "team", "name": "broken", "uid": "u"}, "spec": {"targets": []}},
    )
    events = Events(order())
    router(kube, events).route_pending()
    assert kube.runs == {} and events.outcomes[1] == {"triggers": [], "runs": [], "refused": []}


def test_a_run_already_recorded_is_not_made_again() -> None:
    probe = Events(order())
    router(Kube(trigger("team", "orders", "bill")), probe).route_pending()
    name = probe.outcomes[1]["runs"][0]
    kube = Kube(trigger("team", "orders", "bill"))  # the run finished and was cleaned up
    router(kube, Events(order()), Runs((("team", name),))).route_pending()
    assert kube.runs == {}


def test_a_chain_makes_one_run_past_the_limit_for_the_starter_to_refuse_then_stops() -> None:
    kube = Kube(trigger("team", "loop", "a"))
    events = Events(order(depth=10, event_id="at-limit"), order(depth=11, event_id="past-limit"))
    router(kube, events, max_depth=10).route_pending()
    (made,) = kube.runs.values()
    assert made["metadata"]["annotations"][model.ANNOTATION_CHAIN_DEPTH] == "11"  # refused by the starter
    assert events.outcomes[2]["refused"][0]["reason"] == reasons.CHAIN_TOO_DEEP  # from the refused run: nothing


def test_a_chain_depth_annotation_is_read_defensively() -> None:
    assert model.chain_depth({"annotations": {model.ANNOTATION_CHAIN_DEPTH: "3"}}) == 3
    assert model.chain_depth({"annotations": {model.ANNOTATION_CHAIN_DEPTH: "-1"}}) == 0
    assert model.chain_depth({"annotations": {model.ANNOTATION_CHAIN_DEPTH: "9" * 40}}) == 0
    assert model.chain_depth({}) == 0


def test_one_namespaces_failures_never_hold_up_another_namespaces_events() -> None:
    """A tenant with a quota of one FerrisRun and 101 events, a namespace the operator may not
    read, and one whose API calls fail for a while: the other tenant's event is routed in the
    same pass, each refusal is its event's outcome, and what may pass waits for the next pass."""
    kube = Kube(trigger("quota", "t", "p"), trigger("away", "t", "p"), trigger("team", "orders", "bill"))
    kube.create_fails["quota"] = ForGood("403: exceeded quota: one, requested: count/ferrisruns.ferris.io=1")
    kube.listing_fails["unwatched"] = ForGood("403: ferrisruns is forbidden")
    kube.listing_fails["away"] = ConnectionError("the API server restarts")
    flood = [order("quota", event_id=f"q-{i}") for i in range(101)]
    events = Events(*flood, order("unwatched"), order("away"), order("team"))
    first = router(kube, events).route_pending()
    seq = {r.event.namespace: r.seq for r in events.records}
    assert [r["metadata"]["namespace"] for r in kube.runs.values()] == ["team"]
    assert first == 103 and seq["away"] not in events.outcomes  # left for the next pass
    quota = events.outcomes[1]["refused"][0]
    assert quota["reason"] == reasons.INVALID_TRIGGER and "exceeded quota" in quota["message"]
    refused = events.outcomes[seq["unwatched"]]["refused"][0]
    assert refused["reason"] == reasons.EVENT_REFUSED and "watchNamespaces" in refused["message"]
    del kube.listing_fails["away"]
    assert router(kube, events).route_pending() == 1
    assert {r["metadata"]["namespace"] for r in kube.runs.values()} == {"team", "away"}


def test_an_event_whose_run_fails_for_a_while_waits_and_the_others_go_on() -> None:
    kube = Kube(trigger("a", "t", "p"), trigger("b", "t", "p"))
    kube.create_fails["a"] = TimeoutError("read timed out")
    events = Events(order("a"), order("b"))
    assert router(kube, events).route_pending() == 1 and 1 not in events.outcomes and 2 in events.outcomes
    del kube.create_fails["a"]
    assert router(kube, events).route_pending() == 1 and events.outcomes[1]["runs"]


JOIN = {
    "filters": [
        {"name": "paid", "type": "com.shop.paid"},
        {"name": "packed", "type": "com.shop.packed"},
    ],
    "correlate": {"path": "data.order_id"},
    "within": "1h",
}


def shop(kind: str, order: int, event_id: str) -> Event:
    return Event(event_id, f"com.shop.{kind}", "/shop", "team", None, {"order_id": order, kind: True})


def at(events: Events, minutes: float) -> Events:
    """The events as received ``minutes`` apart, in order."""
    for i, record in enumerate(events.records):
        events.records[i] = EventRecord(
            record.seq, record.event, record.sent_by, NOW + datetime.timedelta(minutes=minutes * i)
        )
    return events


def joined_runs(kube: Kube) -> list[dict[str, Any]]:
    return list(kube.runs.values())


def test_a_join_makes_one_run_once_every_filter_matched_an_event_of_the_same_value() -> None:
    kube, joins = Kube(trigger("team", "ship", "send", join=JOIN)), FakeJoinStore()
    events = Events(shop("paid", 7, "p-1"), shop("paid", 7, "p-2"), shop("packed", 8, "k-0"), shop("packed", 7, "k-1"))
    assert router(kube, events, joins=joins).route_pending() == 4
    [run] = joined_runs(kube)  # order 8 was packed, never paid: nothing for it
    assert run["spec"]["params"] == {
        "paid": {"order_id": 7, "paid": True},  # the first paid event: the second one counts for nothing
        "packed": {"order_id": 7, "packed": True},
        "origin_event_type": "com.shop.packed",
    }
    assert events.outcomes[4]["runs"] == [run["metadata"]["name"]] and events.outcomes[1]["runs"] == []
    assert events.counted["uid-team-ship"] == [4, 1, 0]


def test_a_join_routed_again_after_a_crash_finds_its_run_and_after_it_completed_opens_nothing() -> None:
    kube, joins = Kube(trigger("team", "ship", "send", join=JOIN)), FakeJoinStore()
    first = Events(shop("paid", 7, "p-1"), shop("packed", 7, "k-1"))
    router(kube, first, joins=joins).route_pending()
    [made] = joined_runs(kube)
    joins.rows = {key: dataclasses.replace(row, completed=False) for key, row in joins.rows.items()}  # died before
    again = Events(shop("paid", 7, "p-1"), shop("packed", 7, "k-1"))  # not marked routed either
    router(kube, again, joins=joins).route_pending()
    runs_of = lambda events: [name for outcome in events.outcomes.values() for name in outcome["runs"]]  # noqa: E731
    assert joined_runs(kube) == [made] and runs_of(again) == [made["metadata"]["name"]]
    once_more = Events(shop("paid", 7, "p-1"), shop("packed", 7, "k-1"))  # completed, then routed again
    router(kube, once_more, joins=joins).route_pending()
    assert joined_runs(kube) == [made] and runs_of(once_more) == []


def test_an_event_past_the_window_joins_nothing_and_one_without_the_value_is_not_kept() -> None:
    kube, joins = Kube(trigger("team", "ship", "send", join=JOIN)), FakeJoinStore()
    late = at(Events(shop("paid", 7, "p-1"), shop("packed", 7, "k-1")), minutes=61)
    router(kube, late, joins=joins).route_pending()
    assert joined_runs(kube) == []
    unkeyed = Events(Event("k-2", "com.shop.packed", "/shop", "team", None, {"packed": True}))
    router(kube, unkeyed, joins=joins).route_pending()
    assert [row.part for row in joins.rows.values()] == ["packed"]  # k-1 waits; k-2 has no order_id
    assert unkeyed.outcomes[1]["triggers"] == []
