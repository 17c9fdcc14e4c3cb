"""`ferris dev run DIR`: the executor's context tour run unchanged on a laptop, through the runner's
own parts (masking, templates, the step command), with state kept beside the folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ferris_operator.cli.main import main as ferris
from ferris_runner.local import main

TOUR = (
    "import json, sys\n"
    "from ferris_ef import context, get_param, get_secret\n"
    "argument = json.loads(sys.argv[1])\n"
    "print('argv', argument['package_name'], argument['region'], argument['secrets']['TOKEN'])\n"
    "print('params', get_param('region'), context.package.name, 'secret', get_secret('TOKEN'))\n"
    "context.state.put('runs', context.state.get().get('runs', 0) + 1)\n"
    "print('state', context.state.get())\n"
    "context.events.send('com.example.toured', data={'ok': True})\n"
    "print('retry', context.scheduler.retry(minutes=1))\n"
    "print(open('greeting.txt').read())\n"
)


def package(tmp_path: Path) -> Path:
    folder = tmp_path / "tour"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"execution_order": ["tour.py", "after.sh"]}))
    (folder / "tour.py").write_text(TOUR)
    (folder / "after.sh").write_text("echo after $(cat greeting.txt)\n")
    (folder / "greeting.txt.jinja").write_text("hello {{ region }}")
    (folder / "secrets.json").write_text(json.dumps({"TOKEN": "t0k3n-value"}))
    return folder


def test_the_context_tour_runs_unchanged_masked_with_state_kept_beside_the_folder(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    folder = package(tmp_path)
    assert main([str(folder), "-p", "region=eu"]) == 0
    out = capfd.readouterr().out
    assert "argv tour eu ****" in out and "params eu tour secret ****" in out and "t0k3n-value" not in out
    assert "state {'runs': 1}" in out and "[EF_ENV=local] event not sent:" in out and "retry local-retry" in out
    assert "hello eu" in out and "after hello eu" in out
    assert out.index("=== tour.py ===") < out.index("=== after.sh ===")
    assert ferris(["dev", "run", str(folder), "-p", "region=us"]) == 0  # the CLI hands over to the runner's code
    assert "state {'runs': 2}" in capfd.readouterr().out
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["manifest.json", "tour.py", "after.sh", "greeting.txt.jinja", "secrets.json", "ef_package_state.json"]
    ), "only the state is written into the folder"


def test_a_failing_step_stops_the_rest_and_a_broken_template_names_its_line(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    folder = package(tmp_path)
    (folder / "tour.py").write_text("raise SystemExit(3)\n")
    assert main([str(folder), "-p", "region=eu"]) == 1
    captured = capfd.readouterr()
    assert "step tour.py exited with code 3" in captured.err and "=== after.sh ===" not in captured.out
    (folder / "greeting.txt.jinja").write_text("{{ secrets.TOKEN }}")
    assert main([str(folder)]) == 1
    assert "greeting.txt.jinja line 1: 'secrets' is undefined" in capfd.readouterr().err
