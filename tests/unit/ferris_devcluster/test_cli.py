"""`ferris-devcluster demo --runtime ...` reaches the stack the demo makes (`make demo MODE=...`)."""

from __future__ import annotations

import pytest

from ferris_devcluster import cli


@pytest.mark.parametrize("runtime", ["processes", "containers"])
def test_the_demo_runs_on_the_runtime_asked_for(monkeypatch: pytest.MonkeyPatch, runtime: str) -> None:
    asked: list[tuple[bool, str | None]] = []

    def demo(keep: bool = False, runtime: str | None = None) -> int:
        asked.append((keep, runtime))
        return 0

    monkeypatch.setattr(cli, "run_demo", demo)
    assert cli.main(["demo", "--runtime", runtime]) == 0
    assert asked == [(False, runtime)]


def test_the_runtime_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str | None] = []
    monkeypatch.setattr(cli, "run_demo", lambda keep=False, runtime=None: asked.append(runtime) or 0)
    monkeypatch.setenv("FERRIS_NODE_RUNTIME", "containers")
    assert cli.main(["demo", "--keep"]) == 0
    assert asked == ["containers"]
