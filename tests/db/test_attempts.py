"""spec.retries against a real PostgreSQL: the request for the next attempt is made in the
transaction that ends a run (once, only for the chosen failures, while attempts remain), a run
inherits an attempt only when it was made for it, and the secrets version the chain pinned stays
stored until the next attempt has started."""

from __future__ import annotations

import datetime

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from ferris_operator import model
from ferris_operator.crypto.keyring import KeyRing
from ferris_operator.kek.secret_ring import ring_providers
from ferris_operator.records import NewRun
from ferris_operator.retry_policy import RetryPolicy
from ferris_operator.store.runs import RunStore
from ferris_operator.store.vault import Vault, VersionGone

POLICY = RetryPolicy(2, backoff_seconds=5, retry_on=("StepFailed", "RunnerLost"))


def start(store: RunStore, uid: str, name: str, **chain: object) -> None:
    store.record_start(NewRun(uid, "ns", name, "pkg", "pkg-uid", 1, 1, "digest", ["a.py"], {"n": 1}, "Manual", **chain))  # type: ignore[arg-type]


def requests(database_url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT run_name, attempt, max_attempts, secrets_version, retry_of_name, params,"
            " start_after - created_at FROM retries ORDER BY created_at"
        ).fetchall()


def test_a_chosen_failure_requests_the_next_attempt_once_in_the_transaction_that_ends_the_run(
    pool: ConnectionPool, database_url: str
) -> None:
    store = RunStore(pool)
    start(store, "uid-1", "nightly-x7k2p", policy=POLICY)
    record = store.get("uid-1")
    assert record is not None and (record.attempt, record.max_attempts, record.retry_of) == (1, 3, None)
    assert store.finish("uid-1", model.FAILED, "StepFailed", "step a.py exited with code 1")
    assert not store.finish("uid-1", model.FAILED, "StepFailed", "again")  # ended once, requested once
    [(name, attempt, most, version, retry_of, params, wait)] = requests(database_url)
    assert (name, attempt, most, version, retry_of, params) == (
        "nightly-x7k2p-attempt-2",
        2,
        3,
        1,
        "nightly-x7k2p",
        {"n": 1},
    )
    assert datetime.timedelta(seconds=4) < wait < datetime.timedelta(seconds=6)
    [pending] = store.pending_retries("uid-1")
    assert (pending.run_name, pending.attempt) == ("nightly-x7k2p-attempt-2", 2)


@pytest.mark.parametrize(
    ("phase", "reason"),
    [
        (model.FAILED, "Timeout"),
        (model.SUCCEEDED, "Succeeded"),
        (model.CANCELLED, "Cancelled"),
        (model.FAILED, "RunnerFailed"),
    ],
)
def test_other_endings_request_nothing(pool: ConnectionPool, database_url: str, phase: str, reason: str) -> None:
    store = RunStore(pool)
    start(store, "uid-1", "r", policy=POLICY)
    store.finish("uid-1", phase, reason, "")
    assert requests(database_url) == []


def test_a_run_without_a_policy_and_the_last_attempt_request_nothing(pool: ConnectionPool, database_url: str) -> None:
    store = RunStore(pool)
    start(store, "uid-plain", "plain")
    store.finish("uid-plain", model.FAILED, "StepFailed", "")
    start(store, "uid-1", "r", policy=POLICY)
    store.finish("uid-1", model.FAILED, "StepFailed", "")
    [request] = store.pending_retries("uid-1")
    store.retry_made(request.id, "uid-2")
    attempt = store.attempt_of("uid-2")
    assert attempt is not None and (attempt.attempt, attempt.max_attempts, attempt.retry_of) == (2, 3, "r")
    start(store, "uid-2", "r-attempt-2", attempt=attempt)
    store.finish("uid-2", model.FAILED, "RunnerLost", "")
    [request] = store.pending_retries("uid-2")
    store.retry_made(request.id, "uid-3")
    start(store, "uid-3", "r-attempt-3", attempt=store.attempt_of("uid-3"))
    record = store.get("uid-3")
    assert record is not None and (record.attempt, record.max_attempts, record.retry_of) == (3, 3, "r-attempt-2")
    store.finish("uid-3", model.FAILED, "StepFailed", "")
    assert [r[0] for r in requests(database_url)] == ["r-attempt-2", "r-attempt-3"]  # none after the third


def test_a_retry_is_being_made_from_its_request_until_the_run_made_is_recorded(pool: ConnectionPool) -> None:
    store = RunStore(pool)
    start(store, "uid-1", "r", policy=POLICY)
    assert not store.retry_being_made("ns", "r-attempt-2")
    store.finish("uid-1", model.FAILED, "StepFailed", "")
    assert store.retry_being_made("ns", "r-attempt-2")  # its FerrisRun may exist, unrecorded yet
    assert not store.retry_being_made("other-ns", "r-attempt-2") and not store.retry_being_made("ns", "r")
    [request] = store.pending_retries("uid-1")
    store.retry_made(request.id, "uid-2")
    assert not store.retry_being_made("ns", "r-attempt-2")


def test_only_the_run_made_for_a_request_inherits_it(pool: ConnectionPool) -> None:
    store = RunStore(pool)
    start(store, "uid-1", "r", policy=POLICY)
    store.finish("uid-1", model.FAILED, "StepFailed", "")
    [request] = store.pending_retries("uid-1")
    store.retry_made(request.id, None)  # its name was taken by another object
    assert store.attempt_of("uid-planted") is None and store.pending_retries("uid-1") == []


def test_the_pinned_secrets_version_stays_until_the_next_attempt_has_started(
    pool: ConnectionPool, ring: KeyRing
) -> None:
    vault, store = Vault(pool, ring_providers(ring)), RunStore(pool)
    assert vault.ingest("ns", "pkg", "pkg-uid", {"TOKEN": "v1"}) == 1
    start(store, "uid-1", "r", policy=POLICY)
    store.finish("uid-1", model.FAILED, "StepFailed", "")
    assert vault.ingest("ns", "pkg", "pkg-uid", {"TOKEN": "v2"}) == 2  # a new secrets.json meanwhile
    assert vault.read("pkg-uid", 1).values == {"TOKEN": "v1"}  # kept for the next attempt
    [request] = store.pending_retries("uid-1")
    store.retry_made(request.id, "uid-2")
    attempt = store.attempt_of("uid-2")
    assert attempt is not None and attempt.secrets_version == 1
    store.record_start(NewRun("uid-2", "ns", "r-attempt-2", "pkg", "pkg-uid", 1, 1, "d", ["a.py"], attempt=attempt))
    vault.ingest("ns", "pkg", "pkg-uid", {"TOKEN": "v3"})
    assert vault.read("pkg-uid", 1).values == {"TOKEN": "v1"}  # now the running attempt pins it
    store.finish("uid-2", model.SUCCEEDED, "Succeeded", "")
    vault.ingest("ns", "pkg", "pkg-uid", {"TOKEN": "v4"})
    with pytest.raises(VersionGone):
        vault.read("pkg-uid", 1)


def test_a_retry_keeps_the_asking_runs_place_in_a_chain_and_runs_that_runs_make_are_counted(
    pool: ConnectionPool,
) -> None:
    store = RunStore(pool)
    start(store, "uid-1", "r", policy=POLICY, depth=3)
    store.finish("uid-1", model.FAILED, "StepFailed", "")
    [request] = store.pending_retries("uid-1")
    assert (request.depth, request.made_depth) == (3, 3)  # an attempt: the same link of the chain
    store.retry_made(request.id, "uid-2")
    assert store.retry_depth("uid-2") == 3 and store.retry_depth("uid-nobody") is None
    since = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)
    before = store.runs_made_since("ns", ("Event", "Retry"), since)
    for i, trigger in enumerate(("Event", "Retry", "Manual", "Schedule")):
        store.record_start(NewRun(f"uid-m{i}", "ns", f"m{i}", "pkg", "pkg-uid", 1, 1, "d", ["a.py"], {}, trigger))
    store.record_start(NewRun("uid-elsewhere", "other", "m", "pkg", "pkg-uid", 1, 1, "d", ["a.py"], {}, "Event"))
    assert store.runs_made_since("ns", ("Event", "Retry"), since) == before + 2
    assert store.runs_made_since("ns", ("Event", "Retry"), datetime.datetime.now(datetime.UTC)) == 0


def test_a_run_with_secret_params_is_not_retried_since_its_params_are_kept_for_it_only(
    pool: ConnectionPool, database_url: str
) -> None:
    store = RunStore(pool)
    with psycopg.connect(database_url) as conn:
        before = conn.execute("SELECT count(*) FROM retries").fetchone()
        conn.execute(
            "INSERT INTO run_secret_params (run_uid, package_uid, ciphertext) VALUES ('uid-secret', 'pkg-uid', 'x')"
        )
    start(store, "uid-secret", "with-secret", policy=POLICY)
    assert store.finish("uid-secret", model.FAILED, "StepFailed", "step a.py exited 1")
    with psycopg.connect(database_url) as conn:
        after = conn.execute("SELECT count(*) FROM retries").fetchone()
        kept = conn.execute("SELECT count(*) FROM run_secret_params WHERE run_uid = 'uid-secret'").fetchone()
    assert after == before and kept == (0,)
