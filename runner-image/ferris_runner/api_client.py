"""The runner's client of the operator's runner API: bearer token, retries with backoff,
and a clear failure instead of hanging when the API stays unreachable."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from typing import Any

from ferris_wire import runner_api as wire


class RunnerApiError(Exception):
    """The runner API refused the request or stayed unreachable."""


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        answer = json.loads(exc.read() or b"{}")
    except ValueError:
        return f"HTTP {exc.code}"
    return str(answer.get("error") or f"HTTP {exc.code}") if isinstance(answer, dict) else f"HTTP {exc.code}"


class RunnerApiClient:
    def __init__(
        self, base_url: str, run_uid: str, token: str, deadline_seconds: float = 120.0, ca_pem: str | None = None
    ) -> None:
        self.base = base_url.rstrip("/") + wire.RUN_PREFIX.format(uid=run_uid)
        self._token = token
        self.deadline_seconds = deadline_seconds
        self._tls: ssl.SSLContext | None = None
        if ca_pem:  # the operator serves TLS: trust exactly its CA, and never send the token in clear
            if not self.base.startswith("https://"):
                raise RunnerApiError(f"the runner API is served over TLS, but FERRIS_API_URL is {base_url}")
            self._tls = ssl.create_default_context(cadata=ca_pem)

    def __repr__(self) -> str:
        return f"RunnerApiClient(base={self.base!r})"

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        answers: tuple[int, ...] = (),
        once: bool = False,
        raw: bool = False,
    ) -> Any:
        """The JSON answer (``raw``: its bytes); a refusal whose status is in ``answers`` comes back as
        ``{"status": N, "text": its error}`` instead of raising. ``once``: one attempt, no
        waiting for the API (what is sent again later anyway)."""
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        deadline = time.monotonic() + (0 if once else self.deadline_seconds)
        delay = 0.25
        attempts = 0
        while True:
            attempts += 1
            req = urllib.request.Request(  # noqa: S310 - http(s) URL set by the operator in the Job
                self.base + path,
                data=data,
                method=method,
                headers={
                    "Authorization": f"Bearer {self._token}",
                    "Content-Type": "application/json",
                },
            )
            try:
                with urllib.request.urlopen(req, timeout=5 if once else 15, context=self._tls) as response:  # noqa: S310
                    answer = response.read()
                    return answer if raw else json.loads(answer or b"null")
            except urllib.error.HTTPError as exc:
                if exc.code in answers:
                    return {"status": exc.code, "text": _error_text(exc)}
                if exc.code in (400, 401, 403, 404, 409, 413):  # waiting changes none of these
                    # A 400 names the field and the fix; a 409 or 413 the bound or state that refused it.
                    why = f": {_error_text(exc)}" if exc.code in (400, 409, 413) else ""
                    raise RunnerApiError(f"runner API refused {method} {path}: HTTP {exc.code}{why}") from None
                reason = f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError) as exc:
                reason = str(getattr(exc, "reason", exc))
            if time.monotonic() + delay > deadline:
                raise RunnerApiError(
                    f"runner API at {self.base} unreachable after {attempts} attempts "
                    f"over {self.deadline_seconds:.0f}s: {reason}"
                )
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def step(self, idx: int, report: dict[str, Any]) -> None:
        self.request("POST", wire.STEP.format(idx=idx), report)

    def chunk(self, idx: int, offset: int, text: str) -> bool:
        """A running step's next lines, sent once: True when stored, False when the API says
        to stop sending this step live (409, 413, 429); ``RunnerApiError`` when it was not
        reached (the lines are sent again with the next chunk)."""
        answer = self.request(
            "POST", wire.CHUNK.format(idx=idx), {"offset": offset, "text": text}, answers=(409, 413, 429), once=True
        )
        return not (isinstance(answer, dict) and "status" in answer)

    def finish(self, succeeded: bool, message: str) -> None:
        self.request("POST", wire.FINISH, {"succeeded": succeeded, "message": message})

    def param_file(self, param: str) -> bytes:
        """The file given for one of the run's file params, as the server kept it."""
        answer: bytes = self.request("GET", wire.PARAM_FILE.format(param=param), raw=True)
        return answer

    def state_get(self) -> Any:
        return self.request("GET", wire.STATE)

    def state_put(self, key: str, value: Any) -> None:
        self.request("PUT", wire.STATE_KEY.format(key=key), {"value": value})

    def retry(self, ask: dict[str, Any]) -> Any:
        """``{"afterSeconds": N}`` or ``{"cron": EXPR}``, with ``params``; the run's id and time."""
        return self.request("POST", wire.RETRIES, ask)

    def send_event(self, event: dict[str, Any]) -> Any:
        """``context.events.send``: the event's id (made once per call: a retried request is
        one event) and its place in the store."""
        return self.request("POST", wire.EVENTS, event)

    def set_output(self, name: str, value: Any) -> None:
        """``context.outputs.set``; a refusal (400, 409, 413) is a ``RunnerApiError`` the script gets."""
        answer = self.request("PUT", wire.OUTPUT.format(name=name), {"value": value}, answers=(409, 413))
        if isinstance(answer, dict) and answer.get("status") in (409, 413):
            raise RunnerApiError(str(answer.get("text")))

    def set_secret(self, name: str, value: Any, context: str) -> Any:
        """``context.secrets.set``: ``{"status": N, "text": ...}``, a refusal (403: no scope's
        writers name the package; 409, 413, 400) included."""
        return self.request(
            "PUT",
            wire.SCOPE_WRITE.format(name=name),
            {"value": value, "context": context},
            answers=(400, 403, 409, 413, 429, 501),
        )
