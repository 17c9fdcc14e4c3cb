"""Two minutes of `make soak` (bench/soak.py): runs created every second while the operator is
SIGKILLed and PostgreSQL, the API server and the process node restart, one fault every 20-40 s;
every run ends once: none lost, none duplicated. Its own stack: the faults touch nobody else."""

from __future__ import annotations

import pytest
from bench.soak import soak

pytestmark = pytest.mark.cluster


def test_two_minutes_of_faults_lose_and_duplicate_nothing() -> None:
    result = soak(minutes=2, rate=1.0, fault_every=(20.0, 40.0))
    print(result.summary())
    assert result.created >= 90 and len(result.faults) >= 3, result.summary()
    assert result.lost == [] and result.duplicated == [], result.summary()
    assert result.succeeded >= result.created * 0.9, result.summary()
