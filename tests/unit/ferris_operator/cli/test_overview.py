"""`ferris overview` and `ferris chains` as printed: what the user may not list is "-", never 0;
where to check on; each trigger's edge."""

from __future__ import annotations

from ferris_operator.cli.server import chains_lines, overview_lines


def test_the_overview_prints_counts_runs_and_where_to_check_on() -> None:
    run = {"namespace": "team", "name": "nightly-1", "package": "nightly", "reason": "StepFailed"}
    seen = {
        "namespaces": [
            {"name": "team", "packages": 2, "running": 1, "queued": 0, "failed": 1, "succeeded": 9},
            {"name": "ops", "packages": None, "running": 0, "queued": 0, "failed": 0, "succeeded": 0},
        ],
        "unchecked": 30,
        "next": 20,
        "running": [],
        "queued": [],
        "failed": [{**run, "finishedAt": "2026-03-01T12:00:00Z"}],
        "scheduled": [{"namespace": "team", "package": "nightly", "at": "2026-03-02T03:00:00Z"}],
    }
    lines = overview_lines(seen)
    assert lines[1].split() == ["NAMESPACE", "PACKAGES", "RUNNING", "QUEUED", "FAILED", "SUCCEEDED"]
    assert lines[2].split() == ["team", "2", "1", "0", "1", "9"] and lines[3].split()[:2] == ["ops", "-"]
    assert "30 more namespaces not checked yet: ferris overview --from 20" in lines
    assert "RUNNING" not in lines and "FAILED IN THE LAST 24 H" in lines
    assert any(line.split() == ["team", "nightly-1", "nightly", "StepFailed", "2026-03-01T12:00:00Z"] for line in lines)
    assert lines[-1].split() == ["team", "nightly", "2026-03-02T03:00:00Z"]


def test_a_user_who_may_read_nothing_is_told_so() -> None:
    empty = {"namespaces": [], "unchecked": 0, "next": None, "running": [], "queued": [], "failed": [], "scheduled": []}
    assert overview_lines(empty) == [
        "NAMESPACES (runs ended in the last 24 h)",
        "none you may read among those checked",
    ]


def test_chains_print_each_triggers_edge_and_the_scheduled_packages() -> None:
    edge = {
        "trigger": "t",
        "from": "extract",
        "fromKind": "run",
        "to": "load",
        "on": "Succeeded",
        "filter": "subject=extract",
    }
    webhook = {**edge, "trigger": "w", "from": "/github", "fromKind": "events", "on": None, "filter": "source=/github"}
    chains = {
        "packages": [
            {"name": "extract", "crons": ["0 3 * * *"], "nextScheduleTime": None},
            {"name": "load", "crons": []},
        ],
        "edges": [{**edge, "join": False, "suspended": True}, {**webhook, "join": True, "suspended": False}],
    }
    lines = chains_lines(chains)
    assert lines[1].split() == ["t", "(suspended)", "extract", "load", "Succeeded", "subject=extract"]
    assert lines[2].split() == ["w", "(join)", "events:", "/github", "load", "-", "source=/github"]
    assert lines[-1].split() == ["extract", "0", "3", "*", "*", "*", "-"]
    assert chains_lines({"packages": [], "edges": []}) == ["no FerrisTrigger starts a package here"]
