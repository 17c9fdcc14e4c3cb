"""The runner's wire, checked from both sides: a run document the operator's builder makes is
read whole by the runner's reader, and every call the runner's client makes is a route the
runner API serves (read from the aiohttp app the server really builds)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ferris_operator.builders import run_objects
from ferris_operator.builders.run_objects import RunRef
from ferris_operator.server.runner_api import RunnerApi
from ferris_runner.api_client import RunnerApiClient
from ferris_runner.main import read_document
from ferris_wire import runner_api as wire
from ferris_wire.runner_api import RunDocument

RUN = RunRef("team", "nightly-abc12", "uid-run-1")
PACKAGE: dict[str, Any] = {
    "metadata": {"name": "nightly", "uid": "uid-pkg-1"},
    "spec": {"scripts": [{"name": "a.py", "content": "print(1)"}, {"name": "b.py", "content": "print(2)"}]},
}


@pytest.mark.parametrize(
    ("api_ca", "first_step"), [(None, 0), ("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", 1)]
)
def test_the_document_the_operator_seals_is_the_one_the_runner_reads(api_ca: str | None, first_step: int) -> None:
    # With a CA, every optional field is set (.sql steps included); without, none is.
    package: Any = {**PACKAGE, "spec": {**PACKAGE["spec"], "sql": {"connectionSecret": "DB"}}} if api_ca else PACKAGE
    files = [wire.ParamFile(param="data", name="d.csv", bytes=3, sha256="ab" * 32)] if api_ca else None
    parts = [["ab" * 32], ["cd" * 32, "ef" * 32]] if api_ca else [["ab" * 32], ["cd" * 32]]
    made = run_objects.run_document(RUN, package, {"region": "eu"}, 3, api_ca, first_step, parts, files)
    sent = run_objects.sealed_files(made, [("a.py", b"print(1)"), ("b.py", b"print(2)")])[wire.RUN_DOCUMENT_FILE]
    assert isinstance(sent, str)
    read = read_document(sent.encode())
    assert read == made
    optional = set(RunDocument.__optional_keys__) if api_ca is None else set()
    assert set(read) == set(RunDocument.__annotations__) - optional


@pytest.mark.parametrize("field", sorted(RunDocument.__required_keys__))
def test_a_document_without_a_field_does_not_open_and_names_it(field: str) -> None:
    made: dict[str, Any] = dict(run_objects.run_document(RUN, PACKAGE, {}, 1))
    del made[field]
    with pytest.raises(ValueError, match=rf"run.json: {field} is missing"):
        read_document(json.dumps(made).encode())


@pytest.mark.parametrize("field", sorted(RunDocument.__annotations__))
def test_a_field_of_another_type_does_not_open_and_is_named(field: str) -> None:
    made: dict[str, Any] = dict(run_objects.run_document(RUN, PACKAGE, {}, 1, api_ca="pem"))
    made[field] = None if field != "params" else ["not", "an", "object"]
    with pytest.raises(ValueError, match=rf"run.json: {field} is missing or not a"):
        read_document(json.dumps(made).encode())


class Recording(RunnerApiClient):
    def __init__(self) -> None:
        super().__init__("http://runner-api", "uid-run-1", "token")
        self.calls: list[tuple[str, str]] = []

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        answers: tuple[int, ...] = (),
        once: bool = False,
        raw: bool = False,
    ) -> Any:
        self.calls.append((method, self.base.removeprefix("http://runner-api") + path))
        return b"" if raw else {}


def test_every_call_the_runner_makes_is_a_route_the_runner_api_serves() -> None:
    client = Recording()
    client.step(0, {"phase": wire.STEP_RUNNING})
    client.chunk(0, 0, "a line\n")
    client.finish(True, "done")
    client.state_get()
    client.state_put("k", 1)
    client.retry({"afterSeconds": 60})
    client.send_event({"type": "t"})
    client.set_secret("TOKEN", "v", "project")
    client.set_output("rows", 3)
    client.param_file("data")
    api = RunnerApi(authenticator=None, reports=None, vault=None, events=None)  # type: ignore[arg-type]
    served = [(r.method, r.resource) for r in api.app().router.routes() if r.resource is not None]

    def route_of(method: str, path: str) -> str | None:
        for served_method, resource in served:
            if served_method == method and resource._match(path) is not None:
                return str(resource.canonical)
        return None

    matched = {call: route_of(*call) for call in client.calls}
    assert None not in matched.values(), matched
    every_route = {(m, str(r.canonical)) for m, r in served if m != "HEAD"}
    assert {(m, route) for (m, _), route in matched.items()} == every_route  # and the runner uses each one


def test_the_runner_api_takes_the_largest_step_report_the_runner_sends() -> None:
    api = RunnerApi(authenticator=None, reports=None, vault=None, events=None)  # type: ignore[arg-type]
    assert api.app()._client_max_size == wire.MAX_STEP_BODY
    assert wire.MAX_STEP_BODY > wire.MAX_OUTPUT_CHARS
