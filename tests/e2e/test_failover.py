"""PostgreSQL's primary lost in the middle of a burst of runs, its synchronous standby promoted
(bench/failover.py on a stack of its own: devcluster/replicated.py): the operator, the server and
the runners' reports ride through it, and every run ends once, succeeded, with one Job, one
execution, its history row and one end event."""

from __future__ import annotations

import pytest
from bench.failover import burst

pytestmark = pytest.mark.cluster
RUNS = 500


@pytest.mark.long
@pytest.mark.timeout(900)
def test_a_promotion_mid_burst_ends_every_run_once() -> None:
    result = burst(RUNS, failover=True)
    print(result.summary())
    ledger = result.ledger
    # Mid-burst: runs still being created, and some of those created already started.
    assert result.failover is not None and result.created_at_failover < RUNS, result.summary()
    assert 0 < result.jobs_at_failover < RUNS, result.summary()
    assert ledger.lost == [] and ledger.duplicated == [], result.summary()
    assert ledger.succeeded == RUNS and ledger.failed == {}, result.summary()
