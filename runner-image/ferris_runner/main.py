"""`ferris-runner`: the container a run's Job starts.

Reads its run key (mounted from a Secret) and its bundle (from a ConfigMap), decrypts the
secrets, runs the package's scripts in order with ``sys.argv[1]`` as one JSON object, and
reports every step to the operator. Fails closed: a bundle that does not open stops the run.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import typing
import urllib.parse
from pathlib import Path
from typing import IO, Any

from ferris_ciphertext.bundle import Bundle, BundleMismatch, open_bundle
from ferris_ciphertext.format import CiphertextError
from ferris_runner.api_client import RunnerApiClient, RunnerApiError
from ferris_runner.live import LiveSender
from ferris_runner.masking import Masker, mask_data
from ferris_runner.output import KeptOutput, LiveOutput, fit
from ferris_runner.param_files import ParamFileMismatch, place
from ferris_runner.templates import TemplateFailed, render_templates
from ferris_wire import runner_api as wire
from ferris_wire.runner_api import RunDocument

MAX_ARGUMENT_BYTES = 32 * 4096 - 1  # Linux's MAX_ARG_STRLEN, less the terminating NUL


def read_document(raw: bytes) -> RunDocument:
    """The run document (its digest already checked against the sealed one): every field the
    wire's ``RunDocument`` requires, and each optional one it holds, of the type declared there;
    ValueError names the first that is not."""
    document = json.loads(raw)
    if not isinstance(document, dict):
        raise ValueError(f"{wire.RUN_DOCUMENT_FILE} is not a JSON object")
    for field, hint in typing.get_type_hints(RunDocument).items():
        kind = typing.get_origin(hint) or hint  # dict[str, object] -> dict
        if (field in RunDocument.__required_keys__ or field in document) and not isinstance(document.get(field), kind):
            raise ValueError(f"{wire.RUN_DOCUMENT_FILE}: {field} is missing or not a {kind.__name__}")
    return typing.cast(RunDocument, document)


PART_KEY = re.compile(r"^[0-9a-f]{64}$")  # a part's key in the scripts volume: its SHA-256


class ContentDigestMismatch(BundleMismatch):
    """A file of the package's shared content is not the one this run was sealed with."""


def read_files(bundle: Bundle, document: RunDocument, scripts_dir: Path) -> dict[str, bytes]:
    """Every file of the package, by name, its parts joined from the scripts volume (each under
    its own key), each checked against the digest sealed in the bundle."""
    keys = document["contentKeys"]
    if len(keys) != len(document["files"]) or not all(keys):
        raise BundleMismatch("run.json does not give the parts of every file")
    files = {}
    for index, (name, parts) in enumerate(zip(document["files"], keys, strict=True)):
        if any(not PART_KEY.match(key) for key in parts):
            raise BundleMismatch(f"run.json names a part of {name} that is not a SHA-256")
        content = b"".join((scripts_dir / key).read_bytes() for key in parts)
        try:
            files[name] = bundle.verify(f"script.{index}", content)
        except BundleMismatch:
            raise ContentDigestMismatch(
                f"ContentDigestMismatch: {name} (script.{index}) is not the content this run was sealed with:"
                " the package's content ConfigMap was changed or replaced"
            ) from None
    if len(files) != sum(1 for key in bundle.files if key.startswith("script.")):
        raise BundleMismatch("run.json does not list the files this run was sealed with")
    return files


def secrets_file(secrets: dict[str, Any], name: str = "ferris-secrets") -> int:
    """An anonymous in-memory file holding ``secrets``, for ``secretsInArgv: false`` and for the
    project's and platform's secrets: the scripts inherit its descriptor (ferris_ef reads it);
    it never touches a disk."""
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    os.write(fd, json.dumps(secrets).encode())
    return fd


def all_values(secrets: dict[str, Any], scopes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Every secret value the run holds, package and scopes, for masking (keys are unique)."""
    values = {f"package/{name}": value for name, value in secrets.items()}
    for scope, scoped in scopes.items():
        values.update({f"{scope}/{name}": value for name, value in scoped.items()})
    return values


TERMINATION_LOG = Path("/dev/termination-log")


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fail(message: str, code: int) -> int:
    print(f"ferris-runner: {message}", file=sys.stderr, flush=True)
    with contextlib.suppress(OSError):
        TERMINATION_LOG.write_text(message[:4000])
    return code


class StateServer(threading.Thread):
    """Serves ``ferris_ef.context.state`` and ``context.scheduler`` to one script over a pair of
    pipes (no token in its environment)."""

    def __init__(self, api: RunnerApiClient, requests: IO[str], responses: IO[str], mask: Masker) -> None:
        super().__init__(daemon=True)
        self.api, self.requests, self.responses = api, requests, responses
        self.mask = mask  # always on for what is stored in plain (events, retries' params)

    def run(self) -> None:
        for line in self.requests:
            try:
                message = json.loads(line)
                if message.get("op") == "get":
                    reply: dict[str, Any] = {"ok": True, "value": self.api.state_get()}
                elif message.get("op") == "put":
                    self.api.state_put(str(message["key"]), message.get("value"))
                    reply = {"ok": True}
                elif message.get("op") == "retry":
                    reply = {"ok": True, "value": self.api.retry(mask_data(message["ask"], self.mask))}
                elif message.get("op") == "event":
                    reply = {"ok": True, "value": self.api.send_event(mask_data(message["event"], self.mask))}
                elif message.get("op") == "output":
                    self.api.set_output(str(message["name"]), mask_data(message.get("value"), self.mask))
                    reply = {"ok": True}
                elif message.get("op") == "secret":
                    value = message["value"]
                    answer = self.api.set_secret(str(message["name"]), value, str(message.get("context")))
                    if answer.get("status") == 200:
                        self.mask.add(value)  # the run's output masks the new value from now on
                    reply = {"ok": True, "value": answer}
                else:
                    reply = {"ok": False, "error": "unknown operation"}
            except (RunnerApiError, ValueError, KeyError) as exc:
                reply = {"ok": False, "error": str(exc)}
            self.responses.write(json.dumps(reply) + "\n")
            self.responses.flush()


class Termination:
    """SIGTERM (the run cancelled, timed out or deleted: its pod is being deleted): passed on to
    the running script, and the runner exits once it ends, reporting nothing more, since the
    operator knows why the pod was stopped and says so. The runner is its container's first
    process, which the kernel gives no default action for SIGTERM: without this handler it
    would wait out the grace period."""

    def __init__(self) -> None:
        self.requested = False
        self.process: subprocess.Popen[bytes] | None = None

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self.handle)

    def handle(self, signum: int, frame: object) -> None:
        self.requested = True
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)


def stopped(step: str) -> int:
    return fail(f"stopped by SIGTERM during step {step} (the run was cancelled, timed out or deleted)", 143)


def script_env(work: Path, config_file: Path, state_fds: tuple[int, int]) -> dict[str, str]:
    """The environment of a script: the container's, less everything Ferris-internal."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERRIS_")}
    env.update(
        {
            "HOME": str(work),
            "PYTHONUNBUFFERED": "1",
            "LANG": env.get("LANG", "C.UTF-8"),
            "FERRIS_CONFIG_FILE": str(config_file),
            "FERRIS_STATE_FDS": f"{state_fds[0]},{state_fds[1]}",
        }
    )
    return env


def command_for(path: Path, argument: str) -> list[str]:
    if path.suffix == ".sh":
        return ["bash", str(path), argument]
    if path.suffix == ".sql":  # its own process, as any step: the runner itself holds no database driver
        return [sys.executable, "-u", "-m", "ferris_sql.step", str(path), argument]
    return [sys.executable, "-u", str(path), argument]


def sql_settings(document: RunDocument, secrets: dict[str, Any]) -> dict[str, Any] | None:
    """What a .sql step is given through ``FERRIS_SQL_FD``: the URL the package's
    ``spec.sql.connectionSecret`` names (None when secrets.json does not hold it: the step says
    so), the transaction mode and the rows printed; None when the package sets no spec.sql."""
    secret = document.get("sqlConnectionSecret")
    if secret is None:
        return None
    url = secrets.get(secret)
    return {
        "secret": secret,
        "url": url if isinstance(url, str) else None,
        "transaction": document.get("sqlTransaction", "single"),
        "maxRows": document.get("sqlMaxRows", 20),
    }


def url_passwords(url: str) -> dict[str, str]:
    """The password inside a connection URL, as written and decoded: masked on its own too, as a
    driver's message may quote parts of the URL but never all of it."""
    with contextlib.suppress(ValueError):
        if written := urllib.parse.urlsplit(url).password:
            return {"sql/password": written, "sql/password-decoded": urllib.parse.unquote(written)}
    return {}


def run_step(
    idx: int,
    path: Path,
    argument: str,
    work: Path,
    config_file: Path,
    api: RunnerApiClient,
    mask: Masker | None,
    fds: dict[str, int] | None = None,
    stored_mask: Masker | None = None,
    termination: Termination | None = None,
) -> tuple[int, str]:
    """Runs one step; ``fds`` are the descriptors it inherits, by the environment variable that
    names each (``FERRIS_SECRETS_FD``, ``FERRIS_SCOPED_SECRETS_FD``, ``FERRIS_SQL_FD``)."""
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    env = script_env(work, config_file, (to_child_r, from_child_w))
    inherited = list((fds or {}).values())
    env.update({name: str(fd) for name, fd in (fds or {}).items()})
    process = subprocess.Popen(
        command_for(path, argument),
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        pass_fds=(to_child_r, from_child_w, *inherited),
    )
    if termination is not None:
        termination.process = process
        if termination.requested:  # asked to stop while the script was starting
            process.send_signal(signal.SIGTERM)
    os.close(to_child_r)
    os.close(from_child_w)
    server = StateServer(
        api, os.fdopen(from_child_r, "r"), os.fdopen(to_child_w, "w"), stored_mask or mask or Masker({})
    )
    server.start()
    kept = KeptOutput()
    assert process.stdout is not None
    with LiveSender(api, idx, LiveOutput()) as live:
        for raw in process.stdout:
            line = raw.decode("utf-8", errors="replace")
            if mask:
                line = mask(line)  # a whole line at a time: no chunk holds part of a secret
            sys.stdout.write(line)
            sys.stdout.flush()
            line = line.replace("\x00", "\ufffd")  # what is kept is stored: PostgreSQL holds no NUL
            kept.add(line)
            live.add(line)
        code = process.wait()
    return code, kept.text()


def template_failed(api: RunnerApiClient, steps: list[str], first: int, why: str) -> int:
    """No step ran: the first one is reported failed with why, the others skipped."""
    try:
        for idx, name in enumerate(steps):
            if idx == first:
                api.step(idx, {"name": name, "phase": wire.STEP_RUNNING, "startedAt": now()})
                api.step(idx, {"name": name, "phase": wire.STEP_FAILED, "finishedAt": now(), "output": why + "\n"})
            else:
                api.step(idx, {"name": name, "phase": wire.STEP_SKIPPED})
        api.finish(False, why)
    except RunnerApiError as exc:
        return fail(str(exc), 3)
    return fail(why, 1)


def main() -> int:
    termination = Termination()
    termination.install()
    run_dir = Path(os.environ.get("FERRIS_RUN_DIR", "/var/run/ferris"))
    work = Path(os.environ.get("FERRIS_WORK_DIR", "/ferris/work"))
    uid = os.environ.get("FERRIS_RUN_UID", "")
    api_url = os.environ.get("FERRIS_API_URL", "")
    if not uid or not api_url:
        return fail("FERRIS_RUN_UID and FERRIS_API_URL must be set (the operator sets them in the Job)", 2)
    try:
        run_key = (run_dir / "key" / "run.key").read_bytes()
        token = (run_dir / "key" / "token").read_text().strip()
        bundle = open_bundle(run_key, uid, (run_dir / "bundle" / "bundle").read_bytes())
        # Nothing next to the bundle is trusted until its digest matches the sealed one.
        document = read_document(
            bundle.verify(wire.RUN_DOCUMENT_FILE, (run_dir / "bundle" / wire.RUN_DOCUMENT_FILE).read_bytes())
        )
        scripts = read_files(bundle, document, run_dir / "scripts")
    except FileNotFoundError as exc:
        return fail(f"missing run input {exc.filename}: the run key is removed once a run ends", 2)
    except (CiphertextError, ValueError, KeyError, TypeError) as exc:
        return fail(f"the run bundle does not open: {exc}", 2)
    del run_key
    secrets = bundle.secrets
    try:
        api = RunnerApiClient(
            api_url, uid, token, float(os.environ.get("FERRIS_API_DEADLINE", "120")), document.get("apiCA")
        )
    except (RunnerApiError, ssl.SSLError) as exc:
        return fail(f"cannot set up the runner API connection: {exc}", 2)
    work.mkdir(parents=True, exist_ok=True)
    for name, content in scripts.items():
        (work / name).write_bytes(content)
    try:  # a file param holds the path of its file in the work dir
        params = {**document["params"], **place(api.param_file, document.get("paramFiles", []), work)}
    except (ParamFileMismatch, RunnerApiError) as exc:
        return fail(f"the run's files: {exc}", 2)
    config_file = work / ".ferris-config.json"
    config_file.write_text(json.dumps(document["config"]))
    in_argv = document["secretsInArgv"]
    argument = json.dumps(
        {
            **params,
            **bundle.params,  # the secret ones (paramsSchema secret: true), sealed in the bundle
            "package_name": document["packageName"],
            "package_id": document["packageId"],
            "run_id": document["runId"],
            **({"secrets": secrets} if in_argv else {}),
        }
    )
    if len(argument.encode()) > MAX_ARGUMENT_BYTES:
        where = "the secrets and params" if in_argv else "the params"
        return fail(
            f"sys.argv[1] would be {len(argument.encode())} bytes, over Linux's limit of {MAX_ARGUMENT_BYTES} "
            f"for one argument: {where} are too large (set spec.secretsInArgv: false, or pass smaller params)",
            2,
        )
    fds: dict[str, int] = {}
    if not in_argv:
        fds["FERRIS_SECRETS_FD"] = secrets_file(secrets)
    if bundle.scopes:
        fds["FERRIS_SCOPED_SECRETS_FD"] = secrets_file(bundle.scopes, "ferris-scoped-secrets")
    sql = sql_settings(document, secrets)
    sql_fd = secrets_file(sql, "ferris-sql") if sql else None
    # Secret params and the SQL connection are masked whatever the package says; the rest as it says.
    always = {f"param/{k}": v for k, v in bundle.params.items()}
    if sql and sql["url"]:
        always.update({"sql/url": sql["url"], **url_passwords(sql["url"])})
    stored_mask = Masker({**all_values(secrets, bundle.scopes), **always})
    mask = stored_mask if document["maskSecrets"] else Masker(always) if always else None
    steps = document["steps"]
    first = document.get("firstStep", 0)  # a rerun from a step: the ones before it ran in the run it reruns
    try:
        # The params only (not the secret ones): what a template renders may be printed or stored.
        public = {**params, "package_name": document["packageName"], "package_id": document["packageId"]}
        render_templates(work, scripts, {**public, "run_id": document["runId"]})
    except TemplateFailed as exc:
        return template_failed(api, steps, first, str(exc))
    try:
        failed: str | None = None
        for idx, name in enumerate(steps):
            if failed or idx < first:
                api.step(idx, {"name": name, "phase": wire.STEP_SKIPPED})
                continue
            if termination.requested:
                return stopped(name)
            started = now()
            api.step(idx, {"name": name, "phase": wire.STEP_RUNNING, "startedAt": started})
            code, output = run_step(
                idx,
                work / name,
                argument,
                work,
                config_file,
                api,
                mask,
                {**fds, "FERRIS_SQL_FD": sql_fd} if sql_fd is not None and name.endswith(".sql") else fds,
                stored_mask,
                termination,
            )
            if termination.requested:
                return stopped(name)
            phase = wire.STEP_SUCCEEDED if code == 0 else wire.STEP_FAILED
            api.step(
                idx,
                {
                    "name": name,
                    "phase": phase,
                    "exitCode": code,
                    "startedAt": started,
                    "finishedAt": now(),
                    "output": fit(output, wire.MAX_OUTPUT_CHARS),
                },
            )
            if code != 0:
                failed = f"step {name} exited with code {code}"
        ran = len(steps) - first
        done = (
            f"all {len(steps)} steps succeeded"
            if not first
            else f"steps {first + 1}-{len(steps)} succeeded ({ran} of {len(steps)}: a rerun from step {first + 1})"
        )
        api.finish(failed is None, failed or done)
    except RunnerApiError as exc:
        return fail(str(exc), 3)
    if failed:
        return fail(failed, 1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
