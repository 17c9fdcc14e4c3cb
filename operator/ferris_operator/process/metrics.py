"""Prometheus metrics of the operator, served on /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RUNS_STARTED = Counter("ferris_runs_started_total", "Runs whose Job was created")
RUNS_FINISHED = Counter("ferris_runs_finished_total", "Runs that reached a terminal phase", ["phase", "reason"])
REPLICA_ACTIVE = Gauge(
    "ferris_replica_active", "1 while this operator process is the active replica (always, when alone), else 0"
)
RUNS_ACTIVE = Gauge("ferris_runs_active", "Runs started and not yet finished by this operator process")
RUN_DURATION = Histogram(
    "ferris_run_duration_seconds",
    "Run duration from start to completion",
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 1800, 3600, 14400),
)
RUN_START = Histogram(
    "ferris_run_start_seconds",
    "Time the operator spends starting a run: from its handler being called to its Job created",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RECONCILE_ERRORS = Counter("ferris_reconcile_errors_total", "Reconcile attempts that failed", ["kind", "reason"])
DATABASE_ERRORS = Counter("ferris_database_errors_total", "Operations that failed because PostgreSQL was unavailable")
KEY_PROVIDER_UP = Gauge(
    "ferris_key_provider_up", "1 when the key provider's last status check was healthy", ["provider"]
)
KEY_PROVIDER_ERRORS = Counter(
    "ferris_key_provider_errors_total", "Operations that waited because the key provider was unavailable"
)
SECRETS_INGESTED = Counter("ferris_secrets_ingestions_total", "secrets.json documents ingested", ["source"])
SCHEDULED_RUNS = Counter("ferris_scheduled_runs_total", "FerrisRuns made for scheduled times")
EVENTS_ROUTED = Counter("ferris_events_routed_total", "Events routed to the triggers of their namespace")
EVENT_RUNS = Counter("ferris_event_runs_total", "FerrisRuns made for events")
SCHEDULE_MISSED = Counter("ferris_schedule_missed_total", "Scheduled times that passed without a run")
RUNNER_API_REFUSED = Counter(
    "ferris_runner_api_refused_total", "Runner API requests refused", ["why"]
)  # unauthorized, rate-limited, invalid, too-large
SERVER_REFUSED = Counter(
    "ferris_server_refused_total", "User API requests refused", ["why"]
)  # unauthenticated, forbidden
LOOP_ERRORS = Counter(
    "ferris_loop_object_errors_total", "Objects a periodic loop could not handle (the loop went on)", ["loop"]
)
