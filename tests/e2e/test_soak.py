"""Two minutes of `make soak` (bench/soak.py): runs created every second while the operator is
SIGKILLed, PostgreSQL restarts, its standby is promoted, the API server and the process node
restart, each once in a random order, 10-18 s apart; every run ends once: none lost, none
duplicated. Its own stack: the faults touch nobody else."""

from __future__ import annotations

import pytest
from bench.soak import FAULTS, soak

pytestmark = pytest.mark.cluster


@pytest.mark.long
@pytest.mark.timeout(900)  # room for a slow restart of the API server on a loaded machine (bench/soak.py)
def test_two_minutes_of_faults_lose_and_duplicate_nothing() -> None:
    result = soak(minutes=2, rate=1.0, fault_every=(10.0, 18.0), each_fault_once=True)
    print(result.summary())
    assert result.created >= 90, result.summary()
    assert sorted(kind for _, kind, _ in result.faults) == sorted(FAULTS), result.summary()
    assert result.lost == [] and result.duplicated == [], result.summary()
    assert result.succeeded >= result.created * 0.9, result.summary()
