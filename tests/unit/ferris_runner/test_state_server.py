"""What a script asks of its runner over the pipe pair, answered without a network: outputs go to
the runner API with every secret in them masked, and a refusal comes back to the script."""

from __future__ import annotations

import io
import json
from typing import Any

from ferris_runner.api_client import RunnerApiError
from ferris_runner.main import StateServer
from ferris_runner.masking import Masker


class Api:
    def __init__(self) -> None:
        self.outputs: dict[str, Any] = {}

    def set_output(self, name: str, value: Any) -> None:
        if name == "huge":
            raise RunnerApiError("a run's outputs are at most 65536 bytes of JSON together")
        self.outputs[name] = value


def served(*messages: dict[str, Any]) -> tuple[Api, list[dict[str, Any]]]:
    api, answers = Api(), io.StringIO()
    requests = io.StringIO("".join(json.dumps(m) + "\n" for m in messages))
    StateServer(api, requests, answers, Masker({"TOKEN": "s3cr3t-value"})).run()  # type: ignore[arg-type]
    return api, [json.loads(line) for line in answers.getvalue().splitlines()]


def test_an_output_reaches_the_runner_api_with_its_secrets_masked() -> None:
    api, answers = served(
        {"op": "output", "name": "rows", "value": 3},
        {"op": "output", "name": "login", "value": {"user": "me", "password": "s3cr3t-value"}},
    )
    assert answers == [{"ok": True}, {"ok": True}]
    assert api.outputs == {"rows": 3, "login": {"user": "me", "password": "****"}}


def test_a_refused_output_is_the_scripts_error_to_read() -> None:
    api, answers = served({"op": "output", "name": "huge", "value": "x"})
    assert answers == [{"ok": False, "error": "a run's outputs are at most 65536 bytes of JSON together"}]
    assert api.outputs == {}
