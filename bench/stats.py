"""Small statistics helpers for the benchmark tables."""

from __future__ import annotations

import math


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, math.ceil(pct / 100 * len(ordered)) - 1)
    return ordered[rank]


def ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline else float("nan")
