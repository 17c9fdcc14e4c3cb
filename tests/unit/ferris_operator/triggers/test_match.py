"""Trigger matching, run params and run names: CloudEvents attributes, conditions on the data,
the Ferris executor's params (the data and origin_event_type), and one name per event."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from ferris_operator.problems import Problem
from ferris_operator.triggers.match import (
    Event,
    correlation_of,
    filter_of,
    join_of,
    join_params,
    matched_type,
    matches,
    params_for,
    run_name,
    trigger_of,
)

FINISHED = Event(
    id="e-1",
    type="ferris_executor.run_execution.execution_finished",
    source="/namespaces/team/ferrisruns/a-1",
    namespace="team",
    subject="a",
    data={"package_name": "a", "outcome": {"phase": "Succeeded"}, "rows": 3},
)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({}, True),
        ({"filter": {"type": "ferris_executor.run_execution.execution_finished"}}, True),
        ({"filter": {"type": "ferris_executor.run_execution"}}, False),
        ({"filter": {"typePrefix": "ferris_executor.run_execution."}}, True),
        ({"filter": {"typePrefix": "io.ferris."}}, False),
        ({"filter": {"source": "/namespaces/team/ferrisruns/a-1", "subject": "a"}}, True),
        ({"filter": {"subject": "b"}}, False),
        ({"filter": {"data": [{"path": "outcome.phase", "equals": "Succeeded"}]}}, True),
        ({"filter": {"data": [{"path": "outcome.phase", "equals": "Failed"}]}}, False),
        ({"filter": {"data": [{"path": "rows", "equals": 3}, {"path": "missing.key", "equals": None}]}}, False),
    ],
)
def test_an_event_matches_a_filter_on_every_attribute_given(spec: dict[str, Any], expected: bool) -> None:
    assert matches(filter_of(spec), FINISHED) is expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"filter": {"type": "a", "typePrefix": "a."}}, "spec.filter: give type or typePrefix, not both"),
        ({"filter": {"data": [{"path": "a..b", "equals": 1}]}}, "spec.filter.data[0].path: 'a..b' must be a dotted"),
        ({"filter": {"data": [{"path": "a"}]}}, "spec.filter.data[0]: give the value in 'equals'"),
    ],
)
def test_a_filter_that_cannot_be_used_names_the_field(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(Problem) as refused:
        filter_of(spec)
    assert refused.value.reason == "InvalidTrigger" and message in refused.value.message


def test_a_run_gets_the_events_data_and_type_as_in_ferris_or_the_mapped_parts() -> None:
    assert params_for(None, FINISHED) == {
        "package_name": "a",
        "outcome": {"phase": "Succeeded"},
        "rows": 3,
        "origin_event_type": "ferris_executor.run_execution.execution_finished",
    }
    mapped = params_for({"previous": "outcome.phase", "count": "rows", "absent": "no.such"}, FINISHED)
    assert mapped == {
        "previous": "Succeeded",
        "count": 3,
        "origin_event_type": "ferris_executor.run_execution.execution_finished",
    }


def test_a_redelivered_event_names_the_same_run_and_another_event_another() -> None:
    again = Event(id="e-1", type="x", source=FINISHED.source, namespace="team")
    other_source = Event(id="e-1", type="x", source="/elsewhere", namespace="team")
    assert run_name("on-finish", "b", FINISHED) == run_name("on-finish", "b", again)
    assert run_name("on-finish", "b", FINISHED) != run_name("on-finish", "b", other_source)
    assert run_name("on-finish", "b", FINISHED) != run_name("on-finish", "c", FINISHED)  # one run per target
    long = run_name("t" * 80, "b", FINISHED)
    assert len(long) == 56 and long.startswith("t" * 43 + "-")


def test_a_run_end_matches_by_either_of_its_type_names_and_says_which() -> None:
    ended = Event(
        id="u-1",
        type="ferris_executor.run_execution.execution_finished",
        also_type="io.ferris.run.finished.v1",
        source="/s",
        namespace="team",
    )
    by_ferris_name = filter_of({"filter": {"type": "ferris_executor.run_execution.execution_finished"}})
    by_own_name = filter_of({"filter": {"typePrefix": "io.ferris.run."}})
    assert matched_type(by_ferris_name, ended) == "ferris_executor.run_execution.execution_finished"
    assert matched_type(by_own_name, ended) == "io.ferris.run.finished.v1"
    assert params_for(None, ended, "io.ferris.run.finished.v1")["origin_event_type"] == "io.ferris.run.finished.v1"
    assert matched_type(filter_of({"filter": {"type": "other"}}), ended) is None


def _trigger(spec: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"namespace": "team", "name": "t", "uid": "u"}, "spec": spec}


def test_a_trigger_is_read_with_its_targets_and_a_wrong_one_names_the_field() -> None:
    read = trigger_of(_trigger({"targets": [{"packageRef": {"name": "b"}, "params": {"x": "a.b"}}], "suspend": True}))
    assert read.targets[0].package == "b" and read.targets[0].params == {"x": "a.b"} and read.suspended
    with pytest.raises(Problem, match=r"spec.targets: give at least one"):
        trigger_of(_trigger({}))
    with pytest.raises(Problem, match=r"spec.targets\[1\].packageRef.name"):
        trigger_of(_trigger({"targets": [{"packageRef": {"name": "b"}}, {"packageRef": {}}]}))


JOINED = {
    "filters": [{"name": "paid", "type": "com.shop.paid"}, {"name": "packed", "typePrefix": "com.shop.pack"}],
    "correlate": {"path": "data.order.id"},
    "within": "90m",
}


def test_a_join_is_read_with_its_window_and_its_value_found_in_each_event() -> None:
    join = join_of({"join": JOINED, "targets": []})  # type: ignore[typeddict-item]
    assert join is not None and join.names == {"paid", "packed"} and join.within == datetime.timedelta(minutes=90)
    order = Event("e", "com.shop.paid", "/shop", "team", None, {"order": {"id": 7}})
    assert correlation_of(join, order) == "7"
    assert correlation_of(join, Event("e", "t", "/s", "team", None, {"order": {}})) is None
    by_subject = join_of({"join": {**JOINED, "correlate": {"path": "subject"}}})  # type: ignore[typeddict-item]
    assert by_subject is not None and correlation_of(by_subject, Event("e", "t", "/s", "team", "o-1")) == "o-1"
    long = Event("e", "t", "/s", "team", None, {"order": {"id": "x" * 300}})
    assert str(correlation_of(join, long)).startswith("sha256:")
    assert join_params({"amount": "paid.total"}, {"paid": {"total": 3}, "packed": {}}, "com.shop.packed") == {
        "amount": 3,
        "origin_event_type": "com.shop.packed",
    }


@pytest.mark.parametrize(
    ("join", "field"),
    [
        ({**JOINED, "within": "2 hours"}, "spec.join.within"),
        ({**JOINED, "within": "31d"}, "spec.join.within"),
        ({**JOINED, "correlate": {"path": "order_id"}}, "spec.join.correlate.path"),
        ({**JOINED, "filters": [{"name": "paid"}]}, "spec.join.filters"),
        ({**JOINED, "filters": [{"name": "a"}, {"name": "a"}]}, "spec.join.filters[1].name"),
        ({**JOINED, "filters": [{"name": "a"}, {"name": "b", "type": "x", "typePrefix": "y"}]}, "spec.join.filters[1]"),
    ],
)
def test_a_join_that_cannot_be_used_names_its_field(join: dict[str, Any], field: str) -> None:
    with pytest.raises(Problem) as refused:
        join_of({"join": join})  # type: ignore[typeddict-item]
    assert refused.value.message.startswith(field), refused.value.message
    with pytest.raises(Problem, match="give filter or join, not both"):
        join_of({"join": JOINED, "filter": {"type": "x"}})  # type: ignore[typeddict-item]
