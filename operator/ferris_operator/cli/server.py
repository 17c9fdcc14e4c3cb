"""`ferris runs`, `ferris results` and `ferris logs`: run history through the Ferris server, with
the kubeconfig's own credentials (whatever kind: see kubeconfig.py), so that a user reads
exactly what the cluster's RBAC lets them read. The server is found through the ConfigMap
`ferris-server` of the Ferris namespace (its URL and CA), or FERRIS_SERVER_URL and
FERRIS_SERVER_CA. Reading PostgreSQL directly (`ferris results --database-url`) stays an
administrator's option: that password reads every tenant's history."""

from __future__ import annotations

import argparse
import codecs
import functools
import http.client
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ferris_operator import model
from ferris_operator.cli.kubeconfig import CredentialError, KubeContext, add_arguments, context_of

READ_CHUNK = 64 * 1024
FOLLOW_RETRIES = 5


class ServerError(Exception):
    """The server refused or failed; the text is its reason."""


@dataclass(frozen=True)
class ServerClient:
    """The Ferris server, asked as the kubeconfig's user: its credential made by the client
    library for each request (an exec plugin's expired token is refreshed), its client
    certificate presented at TLS, and whom it impersonates (--as)."""

    url: str
    ca: str
    kube: KubeContext

    @classmethod
    def from_kubeconfig(cls, ferris_namespace: str, kube: KubeContext) -> ServerClient:
        from kubernetes.client.exceptions import ApiException

        url, ca = os.environ.get("FERRIS_SERVER_URL"), os.environ.get("FERRIS_SERVER_CA")
        if url and ca:
            ca_text = Path(ca).read_text()
        else:
            where = f"/api/v1/namespaces/{ferris_namespace}/configmaps/ferris-server"
            try:
                found = kube.get(where, impersonating=False)  # where the server is: as oneself
            except ApiException as exc:
                if exc.status == 401:
                    raise ServerError(kube.refused("the API server answered 401 Unauthorized")) from None
                raise ServerError(
                    f"cannot read ConfigMap {ferris_namespace}/ferris-server ({exc.status} {exc.reason}): is the Ferris"
                    " server installed? Set --ferris-namespace, or FERRIS_SERVER_URL and FERRIS_SERVER_CA"
                ) from None
            url, ca_text = found["data"]["url"], found["data"]["ca.crt"]
        return cls(str(url).rstrip("/"), ca_text, kube)

    @functools.cached_property
    def tls(self) -> ssl.SSLContext:
        """Trusts the server's CA only, and presents the kubeconfig's client certificate if it
        has one (from files, inline data or an exec plugin); made once per client."""
        context = ssl.create_default_context(cadata=self.ca)
        cert, key = self.kube.configuration.cert_file, self.kube.configuration.key_file
        if cert and key:
            context.load_cert_chain(cert, key)
        return context

    def headers(self) -> dict[str, str]:
        """Authorization and impersonation for one request; ServerError when the credential fails."""
        try:
            return self.kube.headers()
        except CredentialError as exc:
            raise ServerError(str(exc)) from None

    def _open(
        self, path: str, query: dict[str, str] | None = None, body: Any = None, content_type: str = "application/json"
    ) -> Any:
        context = self.tls
        target = self.url + path + ("?" + urllib.parse.urlencode(query) if query else "")
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(target, data=data, method="POST" if data is not None else "GET")  # noqa: S310
        for name, value in self.headers().items():
            request.add_header(name, value)
        if data is not None:
            request.add_header("Content-Type", content_type)
        try:
            return urllib.request.urlopen(request, context=context, timeout=30)  # noqa: S310 - https, the server's CA
        except urllib.error.HTTPError as exc:
            try:
                reason = json.loads(exc.read()).get("error", exc.reason)
            except ValueError:
                reason = exc.reason
            if exc.code == 401:
                raise ServerError(self.kube.refused(str(reason))) from None
            raise ServerError(f"{exc.code}: {reason}") from None
        except urllib.error.URLError as exc:
            raise ServerError(f"cannot reach the Ferris server at {self.url}: {exc.reason}") from None

    def json(self, path: str, query: dict[str, str] | None = None) -> Any:
        with self._open(path, query) as response:
            return json.loads(response.read())

    def post(
        self, path: str, body: Any, query: dict[str, str] | None = None, content_type: str = "application/json"
    ) -> tuple[int, Any]:
        """POST ``body`` as JSON; the status (200, 201, 202...) and the answer."""
        with self._open(path, query, body, content_type) as response:
            return int(response.status), json.loads(response.read())

    def text(self, path: str) -> str:
        with self._open(path) as response:
            return str(response.read().decode("utf-8", "replace"))

    def follow(self, path: str) -> Iterator[str]:
        """A followed step output as it comes (see ``follow``)."""
        return follow(lambda offset: self._open(path, {"follow": "true", "offset": str(offset)}))


def follow(open_from: Callable[[int], AbstractContextManager[Any]]) -> Iterator[str]:
    """A followed step output as it comes, from ``open_from(offset)`` (a response read with
    ``read1``). Cut off (a quiet step passing the read timeout, a server replica going away), it
    asks again from the characters it has given: nothing is given twice or left out. Gives up
    when the server cannot be reached FOLLOW_RETRIES times in a row; a refusal at once."""
    shown, cuts = 0, 0
    while True:
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        try:
            with open_from(shown) as response:
                cuts = 0  # answered: a quiet step's read timeouts never add up to giving up
                while chunk := response.read1(READ_CHUNK):
                    text = decoder.decode(chunk)  # a character split between reads waits for its rest
                    shown += len(text)
                    yield text
            return  # the server ended it: the step or the run has ended
        except (TimeoutError, ConnectionError, http.client.IncompleteRead, ServerError) as exc:
            cuts += 1
            if cuts > FOLLOW_RETRIES or (isinstance(exc, ServerError) and not str(exc).startswith("cannot reach")):
                raise ServerError(f"following the output stopped: {exc}") from None
            time.sleep(min(2.0 * cuts, 10.0))


def register(commands: Any) -> None:
    runs = commands.add_parser("runs", help="a namespace's runs, newest first (through the Ferris server)")
    _common(runs)
    runs.add_argument("--package", help="only the runs of this package")
    runs.add_argument("--phase", help="Pending, Running, Succeeded, Failed or Cancelled")
    runs.add_argument("--trigger", help="Manual, Schedule, Retry or Event")
    runs.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    runs.add_argument(
        "--order", choices=("newest", "oldest"), default="newest", help="newest first (default) or oldest"
    )
    runs.set_defaults(handler=cmd_runs)

    results = commands.add_parser("results", help="every step of a run with its full output")
    results.add_argument("run")
    _common(results)
    results.add_argument(
        "--database-url",
        help="administrators only: read PostgreSQL directly instead of the server (that password reads every tenant)",
    )
    results.set_defaults(handler=cmd_results)

    logs = commands.add_parser("logs", help="the full output of a run's steps; -f follows the running one")
    logs.add_argument("run")
    _common(logs)
    logs.add_argument("--step", type=int, help="only this step (1 is the first)")
    logs.add_argument("-f", "--follow", action="store_true", help="stream the output while the step runs")
    logs.set_defaults(handler=cmd_logs)

    rerun = commands.add_parser(
        "rerun", help="start an ended run's package again with its params (through the Ferris server)"
    )
    rerun.add_argument("run")
    _common(rerun)
    rerun.add_argument(
        "--from-step",
        type=int,
        metavar="N",
        help="skip the steps before N (1 is the first), on the secrets version the run had; the package must allow it",
    )
    rerun.add_argument("-p", "--param", action="append", default=[], help="KEY=VALUE instead of the run's params")
    rerun.set_defaults(handler=cmd_rerun)

    cancel = commands.add_parser("cancel", help="stop a run (through the Ferris server): it ends Cancelled")
    cancel.add_argument("run")
    _common(cancel)
    cancel.set_defaults(handler=cmd_cancel)

    overview = commands.add_parser(
        "overview", help="the namespaces you may read, with running, queued, failed and scheduled runs"
    )
    _common(overview)
    overview.add_argument(
        "--from", dest="start", type=int, default=0, metavar="N", help="check the namespaces after the first N"
    )
    overview.set_defaults(handler=cmd_overview)

    chains = commands.add_parser("chains", help="which package's end (or which events) starts which package")
    _common(chains)
    chains.set_defaults(handler=cmd_chains)


def print_answer(
    args: argparse.Namespace, path: str, query: dict[str, str] | None, lines: Callable[[Any], list[str]]
) -> int:
    """The server's answer to ``path`` printed as ``lines`` makes it; 1 with the reason when refused."""
    try:
        answer = server_client(args).json(path, query)
    except ServerError as exc:
        print(f"ferris {args.command}: {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines(answer)))
    return 0


def cmd_overview(args: argparse.Namespace) -> int:
    query = {"prefer": args.namespace, **({"from": str(args.start)} if args.start else {})}
    return print_answer(args, "/api/v1/overview", query, overview_lines)


def overview_lines(seen: dict[str, Any]) -> list[str]:
    """``GET /api/v1/overview`` as a person reads it in a terminal. Pure."""
    counted = ("packages", "running", "queued", "failed", "succeeded")
    lines = ["NAMESPACES (runs ended in the last 24 h)"]
    if seen["namespaces"]:
        rows: list[list[str]] = [["NAMESPACE", *(k.upper() for k in counted)]]
        # null: the user may not list that there
        rows += [[n["name"], *("-" if n[k] is None else str(n[k]) for k in counted)] for n in seen["namespaces"]]
        lines += columns(rows)
    else:
        lines.append("none you may read among those checked")
    if seen["unchecked"]:
        lines.append(f"{seen['unchecked']} more namespaces not checked yet: ferris overview --from {seen['next']}")
    for title, key, at in (
        ("RUNNING", "running", "startedAt"),
        ("QUEUED", "queued", "createdAt"),
        ("FAILED IN THE LAST 24 H", "failed", "finishedAt"),
    ):
        if seen[key]:
            lines += ["", title]
            runs = [["NAMESPACE", "RUN", "PACKAGE", "REASON", "AT"]]
            runs += [[r["namespace"], r["name"], r["package"], r["reason"] or "", r[at] or ""] for r in seen[key]]
            lines += columns(runs)
    if seen["scheduled"]:
        lines += ["", "NEXT SCHEDULED"]
        lines += columns(
            [("NAMESPACE", "PACKAGE", "AT")] + [(s["namespace"], s["package"], s["at"]) for s in seen["scheduled"]]
        )
    return lines


def cmd_chains(args: argparse.Namespace) -> int:
    return print_answer(args, f"/api/v1/namespaces/{urllib.parse.quote(args.namespace)}/chains", None, chains_lines)


def chains_lines(chains: dict[str, Any]) -> list[str]:
    """``GET .../chains`` as lines: each trigger's edge, then the scheduled packages. Pure."""
    if not chains["edges"]:
        return ["no FerrisTrigger starts a package here"]
    rows = [["TRIGGER", "FROM", "TO", "ON", "FILTER"]]
    for edge in chains["edges"]:
        origin = edge["from"] if edge["fromKind"] == "run" else f"events: {edge['from']}"
        origin = "any run" if origin == "*" else origin
        marks = "".join((" (join)" if edge["join"] else "", " (suspended)" if edge["suspended"] else ""))
        rows.append([edge["trigger"] + marks, origin, edge["to"], edge["on"] or "-", edge["filter"]])
    lines = columns(rows)
    scheduled = [p for p in chains["packages"] if p["crons"]]
    if scheduled:
        table = [["PACKAGE", "CRONS", "NEXT"]]
        table += [[p["name"], " | ".join(p["crons"]), p["nextScheduleTime"] or "-"] for p in scheduled]
        lines += ["", "SCHEDULED", *columns(table)]
    return lines


def _common(parser: argparse.ArgumentParser) -> None:
    register_common(parser)


def register_common(parser: argparse.ArgumentParser, namespace: bool = True) -> None:
    add_arguments(parser, namespace)
    parser.add_argument(
        "--ferris-namespace",
        default=os.environ.get("FERRIS_NAMESPACE", "ferris-system"),
        help="where Ferris is installed (its ConfigMap ferris-server says where the server is)",
    )


def server_client(args: argparse.Namespace) -> ServerClient:
    try:
        return ServerClient.from_kubeconfig(args.ferris_namespace, context_of(args))
    except ServerError as exc:
        raise SystemExit(f"ferris {args.command}: {exc}") from None


def _runs_path(args: argparse.Namespace) -> str:
    return f"/api/v1/namespaces/{urllib.parse.quote(args.namespace)}/runs"


def cmd_runs(args: argparse.Namespace) -> int:
    query = {"limit": str(args.limit), "order": args.order}
    query.update({k: v for k, v in (("package", args.package), ("phase", args.phase), ("trigger", args.trigger)) if v})
    try:
        page = server_client(args).json(_runs_path(args), query)
    except ServerError as exc:
        raise SystemExit(f"ferris runs: {exc}") from None
    rows = [("NAME", "PACKAGE", "TRIGGER", "ATTEMPT", "PHASE", "REASON", "CREATED")]
    rows += [
        (
            r["name"],
            r["package"],
            r.get("trigger") or "-",
            attempt_text(r) or "-",
            r["phase"],
            r["reason"] or "",
            r["createdAt"] or "",
        )
        for r in page["items"]
    ]
    print("\n".join(columns(rows)))
    return 0


def print_page(
    args: argparse.Namespace, command: str, path: str, empty: str, lines: Callable[[list[dict[str, Any]]], list[str]]
) -> int:
    """One page (``--limit``) of a namespace's list through the server, printed as ``lines``
    makes it; ``empty`` when there is nothing. 1 with the reason when the server refuses."""
    try:
        page = server_client(args).json(path, {"limit": str(args.limit)})
    except ServerError as exc:
        print(f"ferris {command}: {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines(page["items"])) if page["items"] else empty)
    return 0


def columns(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows (the first one the headings) as lines of aligned columns, as kubectl prints. Pure."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]


def cmd_results(args: argparse.Namespace) -> int:
    if args.database_url:
        return _results_from_database(args)
    server = server_client(args)
    path = f"{_runs_path(args)}/{urllib.parse.quote(args.run)}"
    try:
        run = server.json(path)
        outputs = [server.text(f"{path}/steps/{step['index']}/log") for step in run["steps"]]
    except ServerError as exc:
        print(f"ferris results: {exc}", file=sys.stderr)
        return 1
    _print_results(run, outputs)
    return 0


def attempt_text(run: dict[str, Any]) -> str:
    """ "2/3" for a run of a chain of attempts (spec.retries); "" for a run on its own. Pure."""
    attempt, most = run.get("attempt") or 1, run.get("maxAttempts") or 1
    return f"{attempt}/{most}" if most > 1 or attempt > 1 else ""


def _print_results(run: dict[str, Any], outputs: list[str]) -> None:
    where = f"{run['namespace']}/{run['name']}"
    print(f"run {where}  package {run['package']}  phase {run['phase']}  reason {run['reason'] or '-'}")
    print(f"package generation {run['packageGeneration']}  secrets version {run['secretsVersion']}")
    if run.get("message"):
        print(f"message: {run['message']}")
    if run.get("params"):  # a secret param as ****, a file param as its file's name and size
        print(f"params: {json.dumps(run['params'], ensure_ascii=False, sort_keys=True)}")
    if attempt_text(run):
        print(
            f"attempt {run['attempt']} of {run['maxAttempts']}"
            + (f", retry of {run['retryOf']}" if run.get("retryOf") else "")
        )
    for step, output in zip(run["steps"], outputs, strict=True):
        code = "" if step["exitCode"] is None else f" exit {step['exitCode']}"
        print(f"\n=== step {step['index'] + 1}: {step['name']}  {step['phase']}{code} ===")
        if output:
            print(output, end="" if output.endswith("\n") else "\n")
    if run.get("outputs"):
        print("\n=== outputs ===")
        for name, value in sorted(run["outputs"].items()):
            print(f"{name} = {json.dumps(value, ensure_ascii=False)}")


def post_to_server(args: argparse.Namespace, path: str, body: dict[str, Any]) -> Any:
    """POST ``body`` to the server as the kubeconfig's user: its answer, or None once the
    refusal is printed as this command's one line."""
    try:
        return server_client(args).post(path, body)[1]
    except ServerError as exc:
        print(f"ferris {args.command}: {exc}", file=sys.stderr)
        return None


def cmd_rerun(args: argparse.Namespace) -> int:
    from ferris_operator.cli.runs import parse_params

    body: dict[str, Any] = {}
    if args.param:
        body["params"] = parse_params(args.param)
    if args.from_step is not None:
        body["fromStep"] = args.from_step
    answer = post_to_server(args, f"{_runs_path(args)}/{urllib.parse.quote(args.run)}/rerun", body)
    if answer is None:
        return 1
    print(f"ferrisrun.ferris.io/{answer['name']} created")
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    if post_to_server(args, f"{_runs_path(args)}/{urllib.parse.quote(args.run)}/cancel", {}) is None:
        return 1
    print(f"ferrisrun.ferris.io/{args.run} cancelled: its pod is stopped and the run ends Cancelled")
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    server = server_client(args)
    path = f"{_runs_path(args)}/{urllib.parse.quote(args.run)}"
    try:
        steps = server.json(path)["steps"]
        if args.step is not None:
            steps = [s for s in steps if s["index"] == args.step - 1]
            if not steps:
                raise ServerError(f"run {args.run} has no step {args.step}")
        for step in steps:
            if len(steps) > 1:
                print(f"=== step {step['index'] + 1}: {step['name']} ===", flush=True)
            log = f"{path}/steps/{step['index']}/log"
            if args.follow and step["phase"] not in model.STEP_TERMINAL:
                for text in server.follow(log):
                    sys.stdout.write(text)
                    sys.stdout.flush()
            else:
                sys.stdout.write(server.text(log))
    except ServerError as exc:
        print(f"ferris logs: {exc}", file=sys.stderr)
        return 1
    return 0


def _results_from_database(args: argparse.Namespace) -> int:
    from ferris_operator.store.db import open_pool
    from ferris_operator.store.history import HistoryStore

    with open_pool(args.database_url, max_size=1) as pool:
        history = HistoryStore(pool)
        record = history.find(args.namespace, args.run)
        if record is None:
            print(f"ferris results: no run {args.namespace}/{args.run} recorded", file=sys.stderr)
            return 1
        steps = history.steps(record.uid)
        outputs = [(history.output(record.uid, s.step.idx) or s.step).output for s in steps]
    from ferris_operator.server import views

    _print_results(views.run_with_steps(record, steps), outputs)
    return 0
