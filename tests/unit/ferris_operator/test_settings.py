"""Settings read from the environment: what the chart writes is read back, what it cannot have
written stops start-up naming the variable."""

from __future__ import annotations

import json

import pytest

from ferris_operator.settings import RunnerEgress, Settings

BASE = {"FERRIS_DATABASE_URL": "postgresql://u@h/db", "FERRIS_MASTER_KEY_DIR": "/keys"}


def test_the_runner_egress_policy_is_read_and_off_unless_the_chart_asks() -> None:
    assert Settings.from_env(BASE).runner_egress is None
    given = {"serverLabels": {"app.kubernetes.io/component": "server"}, "port": 8443}
    read = Settings.from_env({**BASE, "FERRIS_RUNNER_EGRESS_POLICY": json.dumps(given)}).runner_egress
    assert read == RunnerEgress(given["serverLabels"], given["port"])


@pytest.mark.parametrize(
    "text", ["{", '{"port": 1}', '{"serverLabels": {}, "port": 1}', '{"serverLabels": {"a": "b"}}']
)
def test_a_runner_egress_policy_the_chart_cannot_have_written_stops_start_up_naming_it(text: str) -> None:
    with pytest.raises(SystemExit, match="FERRIS_RUNNER_EGRESS_POLICY"):
        Settings.from_env({**BASE, "FERRIS_RUNNER_EGRESS_POLICY": text})


def test_retention_and_trusted_proxies_are_read() -> None:
    env = {
        **BASE,
        "FERRIS_HISTORY_RETENTION_DAYS": "30",
        "FERRIS_HISTORY_OUTPUT_BYTES_PER_NAMESPACE": "1048576",
        "FERRIS_SERVER_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7",
    }
    settings = Settings.from_env(env)
    assert (settings.history_retention_days, settings.history_output_bytes) == (30.0, 1048576)
    assert settings.server_trusted_proxies == ("10.0.0.0/8", "192.168.1.7")


def test_queues_are_off_unless_the_chart_turns_kueue_on_and_a_bad_limit_stops_start_up() -> None:
    assert Settings.from_env(BASE).queues.enabled is False
    on = Settings.from_env(
        {
            **BASE,
            "FERRIS_KUEUE_ENABLED": "true",
            "FERRIS_QUEUE_DEFAULT": "batch",
            "FERRIS_QUEUE_MAX_OVERRIDE_PRIORITY": "3",
        }
    ).queues
    assert (on.enabled, on.default_queue, on.max_override_priority) == (True, "batch", 3)
    for bad in ("0", "11", "fast"):
        with pytest.raises(SystemExit, match=r"FERRIS_QUEUE_MAX_OVERRIDE_PRIORITY.*queue\.maxOverridePriority"):
            Settings.from_env({**BASE, "FERRIS_QUEUE_MAX_OVERRIDE_PRIORITY": bad})
