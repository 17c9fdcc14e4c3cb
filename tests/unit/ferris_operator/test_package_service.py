"""Package reconcile, with fakes for the Kubernetes API and the vault."""

from __future__ import annotations

from ferris_operator.package_service import short_secret_warnings


def test_many_short_secrets_make_one_warning_not_thousands() -> None:
    warnings = short_secret_warnings({f"K{i}": "x" for i in range(20_000)})
    assert len(warnings) == 1 and "20000 secrets are shorter than 4 characters" in warnings[0]
    assert len(short_secret_warnings({"A": "1", "B": "2"})) == 2
