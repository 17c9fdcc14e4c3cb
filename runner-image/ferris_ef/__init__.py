"""The script helper of the Ferris executor contract.

``sys.argv[1]`` is one JSON object: the run's params at top level, plus ``package_name``,
``package_id``, ``run_id`` and ``secrets``. This module reads it; scripts written for the
Ferris executor run unchanged.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import uuid
from typing import Any

__all__ = ["context", "get_param", "get_secret"]

SCOPES = ("project", "platform")  # where a secret is looked for after the package's own, in order


@functools.cache
def _arguments() -> dict[str, Any]:
    if len(sys.argv) < 2:
        return {}
    try:
        value = json.loads(sys.argv[1])
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


@functools.cache
def _secrets() -> dict[str, Any]:
    """The package's secrets: from ``sys.argv[1]`` (the Ferris executor's form), or, for a
    package with ``secretsInArgv: false``, from the descriptor the runner passes."""
    arguments = _arguments()
    if "secrets" in arguments:
        value = arguments["secrets"]
        return value if isinstance(value, dict) else {}
    return _read_fd(os.environ.get("FERRIS_SECRETS_FD"))


@functools.cache
def _scoped() -> dict[str, dict[str, Any]]:
    """The project's and platform's secrets this run may read (``{"project": {...},
    "platform": {...}}``), from the descriptor the runner passes; values this script set
    during the run are added to it."""
    value = _read_fd(os.environ.get("FERRIS_SCOPED_SECRETS_FD"))
    return {scope: dict(value.get(scope) or {}) for scope in SCOPES}


def _read_fd(fd: str | None) -> dict[str, Any]:
    if not fd:
        return {}
    chunks, offset = [], 0
    while chunk := os.pread(int(fd), 1 << 20, offset):
        chunks.append(chunk)
        offset += len(chunk)
    value = json.loads(b"".join(chunks) or b"{}")
    return value if isinstance(value, dict) else {}


def get_secret(name: str) -> Any:
    """The package's secret ``name``, else the project's, else the platform's (as the Ferris
    executor looks them up); None, with a line saying so, when none has it."""
    secrets = _secrets()
    if name in secrets:
        return secrets[name]
    scoped = _scoped()
    for scope in SCOPES:
        if name in scoped[scope]:
            return scoped[scope][name]
    print(f"Secret {name} not found!")
    return None


def get_param(name: str) -> Any:
    arguments = _arguments()
    if name in arguments:
        return arguments[name]
    print(f"Parameter {name} not found!")
    return None


class _Secrets:
    def get(self, name: str) -> Any:
        return get_secret(name)

    def set(self, name: str, value: Any, context: str = "project") -> tuple[int, str]:
        """Store ``value`` as the secret ``name`` of the project (the namespace) or the
        platform (``context="platform"``), encrypted at once; allowed only where that scope's
        ``spec.writers`` name this package. Returns ``(status, text)``: 200 when written,
        else the refusal (403: no policy allows it) and why. Later runs read the new value;
        this run's ``get`` does too, and its output masks it from now on."""
        answer = (
            _State()
            ._call({"op": "secret", "name": name, "value": value, "context": context}, "context.secrets.set")
            .get("value")
            or {}
        )
        status, text = int(answer.get("status") or 500), str(answer.get("text") or "no answer")
        if status == 200 and context in SCOPES:
            _scoped()[context][name] = value
        return status, text


class _Package:
    @property
    def name(self) -> str | None:
        return _arguments().get("package_name")

    @property
    def id(self) -> str | None:
        return _arguments().get("package_id")


class _State:
    """Per-package state kept across runs, through the runner (no credentials in this process)."""

    def _call(self, message: dict[str, Any], what: str = "context.state") -> dict[str, Any]:
        fds = os.environ.get("FERRIS_STATE_FDS")
        if not fds:
            raise RuntimeError(f"{what} is only available inside a Ferris run")
        read_fd, write_fd = (int(x) for x in fds.split(","))
        os.write(write_fd, (json.dumps(message) + "\n").encode())
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = os.read(read_fd, 65536)
            if not chunk:
                raise RuntimeError("the runner closed the state channel")
            reply += chunk
        result: dict[str, Any] = json.loads(reply)
        if not result.get("ok"):
            raise RuntimeError(f"{what} failed: {result.get('error')}")
        return result

    def get(self) -> dict[str, Any]:
        value = self._call({"op": "get"}).get("value")
        return value if isinstance(value, dict) else {}

    def put(self, key: str, value: Any) -> None:
        self._call({"op": "put", "key": key, "value": value})


class _Scheduler:
    """Later runs of this package, as the Ferris executor's ``context.scheduler``."""

    def retry(
        self,
        minutes: float = 0,
        hours: float = 0,
        days: float = 0,
        cron_expression: str | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> str:
        """Ask for one run of this package after the given time (or at the cron expression's
        next time, in UTC), with ``parameters`` as its params; returns its id (the FerrisRun's
        name). It waits as ``Pending`` until then, whatever restarts happen."""
        ask: dict[str, Any] = {"params": parameters or {}}
        if cron_expression is not None:
            ask["cron"] = cron_expression
        else:
            ask["afterSeconds"] = max(0, round(minutes * 60 + hours * 3600 + days * 86400))
        value = _State()._call({"op": "retry", "ask": ask}, "context.scheduler.retry").get("value") or {}
        return str(value.get("id"))


class _Events:
    """Events from a script, as the Ferris executor's ``context.events``."""

    def send(
        self,
        event_type: str,
        event_source: str | None = None,
        data: dict[str, Any] | None = None,
        topic: str | None = None,
        reference_id: str | None = None,
    ) -> str:
        """Send an event of ``event_type`` into this run's namespace, with ``data`` (a JSON
        object: it becomes the params of the runs it starts). Its source is this run unless
        ``event_source`` is given. ``topic`` (a Kafka topic in the Ferris executor) has no
        meaning here: FerrisTriggers choose events by type, source and data. ``reference_id``
        becomes the event's subject. Secret values in the data are replaced by ****. Returns
        the event's id."""
        del topic
        event: dict[str, Any] = {"id": uuid.uuid4().hex, "type": event_type, "data": data if data is not None else {}}
        if event_source:
            event["source"] = event_source
        if reference_id is not None:
            event["subject"] = str(reference_id)
        value = _State()._call({"op": "event", "event": event}, "context.events.send").get("value") or {}
        return str(value.get("id") or event["id"])


class _Outputs:
    """What this run hands on: kept with the run, shown in its history, and the data of the event
    of its end (``outputs``), so a package a trigger starts on that event gets them as params."""

    def set(self, name: str, value: Any) -> None:
        """Set output ``name`` (a letter or _, then letters, digits and _) to ``value`` (any JSON
        but null; set again: replaced). A run's outputs are at most 64 KiB of JSON together;
        secret values in them are replaced by ****."""
        _State()._call({"op": "output", "name": name, "value": value}, "context.outputs.set")


class _Context:
    secrets = _Secrets()
    outputs = _Outputs()
    package = _Package()
    state = _State()
    scheduler = _Scheduler()
    events = _Events()

    @property
    def params(self) -> dict[str, Any]:
        return {k: v for k, v in _arguments().items() if k != "secrets"}

    @property
    def run_id(self) -> str | None:
        return _arguments().get("run_id")

    @property
    def config(self) -> dict[str, Any]:
        path = os.environ.get("FERRIS_CONFIG_FILE")
        if not path or not os.path.exists(path):
            return {}
        with open(path) as handle:
            value = json.load(handle)
        return value if isinstance(value, dict) else {}


context = _Context()
