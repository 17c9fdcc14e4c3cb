"""The CRDs have two homes (`crds/` for kubectl, the chart's `crds/` for helm): one content."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_chart_ships_the_same_crds_as_crds_dir() -> None:
    plain = {p.name: p.read_bytes() for p in (REPO / "crds").glob("*.yaml")}
    chart = {p.name: p.read_bytes() for p in (REPO / "charts" / "ferris" / "crds").glob("*.yaml") if p.name in plain}
    assert plain and set(chart) == set(plain), f"missing from the chart: {sorted(set(plain) - set(chart))}"
    different = [name for name in plain if chart[name] != plain[name]]
    assert not different, f"crds/ and charts/ferris/crds/ differ in {different}: copy crds/ into the chart"
