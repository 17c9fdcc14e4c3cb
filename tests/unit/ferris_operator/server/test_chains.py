"""A namespace's chains read from its packages and triggers: which end feeds which start."""

from __future__ import annotations

from typing import Any

from ferris_operator import model
from ferris_operator.server import chains


def package(name: str, crons: list[str] | None = None) -> Any:
    spec: dict[str, Any] = {"scripts": [{"name": "a.py", "content": "print(1)"}]}
    if crons:
        spec["schedule"] = {"crons": crons}
    return {"metadata": {"namespace": "team", "name": name}, "spec": spec, "status": {}}


def trigger(name: str, targets: list[str], **spec: Any) -> Any:
    return {
        "metadata": {"namespace": "team", "name": name},
        "spec": {"targets": [{"packageRef": {"name": t}} for t in targets], **spec},
    }


def test_a_run_end_filter_with_a_subject_is_an_edge_from_that_package_on_its_outcome() -> None:
    on_success = {
        "type": model.RUN_ENDED_CE_TYPE,
        "subject": "extract",
        "data": [{"path": "outcome.phase", "equals": "Succeeded"}],
    }
    graph = chains.graph(
        [package("load"), package("extract", ["0 3 * * *"])],
        [trigger("after-extract", ["load"], filter=on_success)],
    )
    assert [n["name"] for n in graph["packages"]] == ["extract", "load"]
    assert graph["packages"][0]["crons"] == ["0 3 * * *"]
    [edge] = graph["edges"]
    assert (edge["from"], edge["fromKind"], edge["to"], edge["on"]) == ("extract", "run", "load", "Succeeded")
    assert edge["filter"] == f'type={model.RUN_ENDED_CE_TYPE}, subject=extract, data.outcome.phase=="Succeeded"'
    assert graph["sources"] == []
    assert chains.around(graph, "extract") == {"startedBy": [], "starts": [edge]}
    assert chains.around(graph, "load") == {"startedBy": [edge], "starts": []}


def test_the_executors_type_a_prefix_and_no_subject_are_run_ends_too() -> None:
    graph = chains.graph(
        [package("audit"), package("a")],
        [
            trigger("any-end", ["audit"], filter={"type": model.RUN_ENDED_TYPE}),
            trigger("prefixed", ["audit"], filter={"typePrefix": "io.ferris.run.", "subject": "a"}),
        ],
    )
    assert [(e["from"], e["fromKind"]) for e in graph["edges"]] == [(chains.ANY_RUN, "run"), ("a", "run")]
    assert len(chains.around(graph, "a")["starts"]) == 2  # any run's end, and its own


def test_other_events_come_from_a_source_node_and_each_join_part_is_an_edge() -> None:
    join = {
        "filters": [
            {"name": "order", "type": "com.shop.order"},
            {"name": "paid", "type": model.RUN_ENDED_TYPE, "subject": "billing"},
        ],
        "correlate": {"path": "data.order_id"},
        "within": "1h",
    }
    graph = chains.graph(
        [package("ship"), package("billing")],
        [
            trigger("ship-when-both", ["ship"], join=join, suspend=True),
            trigger("webhook", ["billing"], filter={"source": "/github"}),
            trigger("everything", ["billing"], filter={}),
        ],
    )
    edges = [(e["trigger"], e["from"], e["fromKind"], e["join"], e["suspended"]) for e in graph["edges"]]
    assert edges == [
        ("everything", "any event", "events", False, False),
        ("ship-when-both", "com.shop.order", "events", True, True),
        ("ship-when-both", "billing", "run", True, True),
        ("webhook", "/github", "events", False, False),
    ]
    assert graph["sources"] == ["any event", "com.shop.order", "/github"]
