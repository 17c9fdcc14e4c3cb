"""An API server's refusal reaches the user as one line naming the status and what to do."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from kubernetes.client.exceptions import ApiException

from ferris_operator.cli import main as cli_main
from ferris_operator.cli.kubeconfig import load
from ferris_operator.cli.refusals import api_refusal
from tests.unit.ferris_operator.cli.test_kubeconfig import kubeconfig


def answered(status: int, reason: str, message: str) -> ApiException:
    exc = ApiException(status=status, reason=reason)
    exc.body = json.dumps({"kind": "Status", "message": message, "code": status})
    return exc


def test_a_forbidden_create_names_the_right_and_how_to_check_it() -> None:
    said = api_refusal(answered(403, "Forbidden", 'User "u" cannot create resource "ferrisruns"'))
    assert said == (
        'the API server answered 403 Forbidden: User "u" cannot create resource "ferrisruns"'
        " (you lack that right: ask for it, or check it with `kubectl auth can-i`)"
    )


def test_other_errors_are_not_taken_for_refusals() -> None:
    assert api_refusal(ValueError("x")) is None


def test_the_command_prints_the_refusal_and_fails_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refused(args: argparse.Namespace) -> int:
        raise answered(403, "Forbidden", 'ferrisruns.ferris.io is forbidden: User "v" cannot create')

    parser = argparse.ArgumentParser(prog="ferris")
    parser.set_defaults(handler=refused, command="run")
    monkeypatch.setattr(cli_main, "build_parser", lambda: parser)
    assert cli_main.main([]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ferris run: the API server answered 403 Forbidden: ferrisruns.ferris.io is forbidden")
    assert "Traceback" not in err


def test_an_error_that_is_not_the_api_servers_still_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(args: argparse.Namespace) -> int:
        raise RuntimeError("a bug")

    parser = argparse.ArgumentParser(prog="ferris")
    parser.set_defaults(handler=broken, command="run")
    monkeypatch.setattr(cli_main, "build_parser", lambda: parser)
    with pytest.raises(RuntimeError):
        cli_main.main([])


def test_a_401_names_the_kubeconfigs_credential_as_the_server_verbs_do(tmp_path: Path) -> None:
    config = kubeconfig(tmp_path / "config", {"sa": {"token": "expired-token"}})
    said = api_refusal(answered(401, "Unauthorized", "Unauthorized"), load(str(config)))
    assert said is not None and said.startswith("401: the server refused the kubeconfig's bearer token")
    assert "the API server answered 401 Unauthorized" in said and "kubectl create token" in said
    assert "expired-token" not in said
