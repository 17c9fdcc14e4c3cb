"""The script helper of the Ferris executor contract.

``sys.argv[1]`` is one JSON object: the run's params at top level, plus ``package_name``,
``package_id``, ``run_id`` and ``secrets``. This module reads it; scripts written for the
Ferris executor run unchanged.

Outside a run, with ``EF_ENV=local`` (as the executor had it), everything comes from
``ef_env.json`` beside the script instead: ``params`` (``package_name`` and ``package_id``
among them), ``secrets`` and ``config``; the package's state is kept in
``ef_package_state.json`` there, and what would leave the run (events, retries, outputs,
secrets written to a scope) is printed instead of sent.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

__all__ = ["context", "get_param", "get_secret"]

SCOPES = ("project", "platform")  # where a secret is looked for after the package's own, in order


LOCAL_ENV, LOCAL_STATE = "ef_env.json", "ef_package_state.json"


def _local_dir() -> Path | None:
    """The folder of ``ef_env.json`` when ``EF_ENV=local``: the script's own, else the working one."""
    if os.environ.get("EF_ENV") != "local":
        return None
    script = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    return script.parent if script is not None and script.is_file() else Path.cwd()


@functools.cache
def _local() -> dict[str, Any] | None:
    """``ef_env.json`` in local mode (None outside it); a clear error when it is missing or
    lacks what the executor required."""
    folder = _local_dir()
    if folder is None:
        return None
    path = folder / LOCAL_ENV
    try:
        value = json.loads(path.read_text())
    except FileNotFoundError:
        raise RuntimeError(f"EF_ENV=local: {path} is missing; write params, secrets and config there") from None
    except ValueError as exc:
        raise RuntimeError(f"EF_ENV=local: {path} is not JSON: {exc}") from None
    params = value.get("params") if isinstance(value, dict) else None
    if not isinstance(params, dict) or not {"package_name", "package_id"} <= set(params):
        raise RuntimeError(f"EF_ENV=local: {path} needs params with package_name and package_id")
    found: dict[str, Any] = value
    return found


@functools.cache
def _arguments() -> dict[str, Any]:
    local = _local()
    if local is not None:
        return {**local["params"], "secrets": dict(local.get("secrets") or {})}
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
        folder = _local_dir()
        if folder is not None:
            return _local_call(folder, message)
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


def _local_call(folder: Path, message: dict[str, Any]) -> dict[str, Any]:
    """What the runner answers, done on a laptop: state in a file beside the script; what would
    leave the run printed."""
    path = folder / LOCAL_STATE
    state = json.loads(path.read_text()) if path.exists() else {}
    op = message["op"]
    if op == "get":
        return {"ok": True, "value": state}
    if op == "put":
        path.write_text(json.dumps({**state, message["key"]: message["value"]}, indent=2))
        return {"ok": True}
    if op == "event":
        print(f"[EF_ENV=local] event not sent: {json.dumps(message['event'])}")
        return {"ok": True, "value": {"id": message["event"]["id"]}}
    if op == "retry":
        print(f"[EF_ENV=local] retry not scheduled: {json.dumps(message['ask'])}")
        return {"ok": True, "value": {"id": "local-retry"}}
    if op == "output":
        print(f"[EF_ENV=local] output {message['name']} = {json.dumps(message['value'])}")
        return {"ok": True}
    print(f"[EF_ENV=local] secret {message.get('name')} not written to the {message.get('context')} scope")
    return {"ok": True, "value": {"status": 200, "text": "written locally: nowhere"}}


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
        local = _local()
        if local is not None:
            return dict(local.get("config") or {})
        path = os.environ.get("FERRIS_CONFIG_FILE")
        if not path or not os.path.exists(path):
            return {}
        with open(path) as handle:
            value = json.load(handle)
        return value if isinstance(value, dict) else {}


context = _Context()
