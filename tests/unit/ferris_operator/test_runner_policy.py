"""The runner policy: defaults, and as the chart sets it."""

from __future__ import annotations

from ferris_operator.runner_policy import RunnerPolicy
from ferris_operator.settings import Settings
from tests.unit.ferris_operator.fakes import policy_reason


def test_by_default_only_the_default_runner_repository_and_no_scheduling_or_preloading() -> None:
    policy = RunnerPolicy()
    assert policy_reason(policy, {}) is None
    assert policy_reason(policy, {"image": "ghcr.io/ferris-run/ferris-runner:0.2.0"}) is None
    assert policy_reason(policy, {"image": "ghcr.io/ferris-run/ferris-runner@sha256:" + "a" * 64}) is None
    assert policy_reason(policy, {"image": "ghcr.io/ferris-run/ferris-runner-evil:1"}) == "RunnerPolicyViolation"
    assert policy_reason(policy, {"image": "busybox"}) == "RunnerPolicyViolation"
    assert policy_reason(policy, {"tolerations": [{"operator": "Exists"}]}) == "RunnerPolicyViolation"
    assert policy_reason(policy, {"env": [{"name": "LD_AUDIT", "value": "x"}]}) == "RunnerPolicyViolation"
    assert policy_reason(policy, {"env": [{"name": "MY_SETTING", "value": "x"}]}) is None


def test_the_policy_is_read_from_the_environment_the_chart_sets() -> None:
    settings = Settings.from_env(
        {
            "FERRIS_DATABASE_URL": "postgresql://x",
            "FERRIS_MASTER_KEY_DIR": "/k",
            "FERRIS_RUNNER_ALLOWED_IMAGES": "registry.corp/ferris/*, busybox",
            "FERRIS_RUNNER_ALLOW_SCHEDULING": "true",
            "FERRIS_RUNNER_FORBIDDEN_ENV": "",
        }
    )
    policy = settings.runner_policy
    assert policy.allowed_images == ("registry.corp/ferris/*", "busybox")
    assert policy_reason(policy, {"image": "registry.corp/ferris/runner:2", "nodeSelector": {"a": "b"}}) is None
    assert policy_reason(policy, {"env": [{"name": "LD_PRELOAD", "value": "x"}]}) is None  # forbidden list emptied
    assert policy_reason(policy, {"serviceAccountName": "x"}) == "RunnerPolicyViolation"
