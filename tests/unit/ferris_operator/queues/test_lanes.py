"""Which queue and lane a run waits in (queues/lanes.py), and that the chart's lanes, the CRDs
and the module agree."""

from __future__ import annotations

from pathlib import Path

import yaml

from ferris_operator.queues.lanes import LANES, QueueSettings, lane_of, placement

REPO = Path(__file__).resolve().parents[4]
SETTINGS = QueueSettings(enabled=True, default_queue="ferris", max_override_priority=1)


def test_each_priority_has_the_lane_of_the_executor() -> None:
    assert [lane_of(p).name for p in range(1, 11)] == ["ferris-fast"] * 3 + ["ferris-default"] * 4 + ["ferris-slow"] * 3
    values = [lane.value for lane in LANES]
    assert values == sorted(values, reverse=True), "a more urgent lane must be admitted first"


def test_a_package_without_a_priority_runs_at_5_in_the_default_queue() -> None:
    placed = placement({}, {}, SETTINGS)
    assert (placed.queue, placed.priority, placed.lane, placed.asked) == ("ferris", 5, "ferris-default", None)
    assert placed.labels == {"kueue.x-k8s.io/queue-name": "ferris", "kueue.x-k8s.io/priority-class": "ferris-default"}


def test_the_package_names_its_queue_and_priority_and_a_run_overrides_the_priority() -> None:
    package = {"priority": 9, "queue": "batch"}
    assert (placement(package, {}, SETTINGS).priority, placement(package, {}, SETTINGS).queue) == (9, "batch")
    run = placement(package, {"priority": 2}, SETTINGS)
    assert (run.priority, run.lane, run.asked) == (2, "ferris-fast", None)


def test_a_run_asking_for_more_than_the_platform_allows_gets_the_limit_and_says_what_it_asked() -> None:
    limited = QueueSettings(enabled=True, max_override_priority=4)
    run = placement({"priority": 8}, {"priority": 1}, limited)
    assert (run.priority, run.lane, run.asked) == (4, "ferris-default", 1)
    calmer = placement({"priority": 8}, {"priority": 6}, limited)
    assert (calmer.priority, calmer.asked) == (6, None)
    # The limit is on what a run asks for, not on its package's own priority.
    assert placement({"priority": 2}, {}, limited).priority == 2


def test_the_chart_ships_the_lanes_the_operator_names() -> None:
    shipped = list(yaml.safe_load_all((REPO / "charts/ferris/files/kueue-lanes.yaml").read_text()))
    assert [(d["kind"], d["metadata"]["name"], d["value"]) for d in shipped] == [
        ("WorkloadPriorityClass", lane.name, lane.value) for lane in LANES
    ]


def test_the_crds_bound_priorities_as_the_lanes_do() -> None:
    for crd, path in (("ferrispackages", "spec"), ("ferrisruns", "spec")):
        schema = yaml.safe_load((REPO / f"crds/{crd}.ferris.io.yaml").read_text())
        spec = schema["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][path]["properties"]
        assert (spec["priority"]["minimum"], spec["priority"]["maximum"]) == (1, 10), crd
