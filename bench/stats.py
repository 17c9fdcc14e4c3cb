"""Small statistics helpers for the benchmark tables."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, math.ceil(pct / 100 * len(ordered)) - 1)
    return ordered[rank]


def ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline else float("nan")


def report(results: dict[str, Any], summary: Callable[[dict[str, Any]], str]) -> None:
    """A stage run on its own: every figure as JSON, then the summary line."""
    print(json.dumps(results, indent=2))
    print(summary(results))
