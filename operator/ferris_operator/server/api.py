"""The user-facing API of the Ferris server: run history, step output, packages, Run and rerun.

Every route is declared once, in ``routes()``, with the access it needs; the one wrapper that
serves them authenticates the user (client certificate or bearer token), then asks the
cluster's RBAC for each access (SubjectAccessReview) before the handler runs. A route cannot be
added without saying what it needs, and none acts on the server's own rights unchecked."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import urllib.parse
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ferris_operator import model, runner_reports
from ferris_operator.bodies import ParamsSchema
from ferris_operator.builders.run_manifest import run_manifest
from ferris_operator.ingest import secrets_json
from ferris_operator.packages import params_schema
from ferris_operator.packages.params_schema import ParamsError
from ferris_operator.ports import HistoryPort, KubePort, VaultPort
from ferris_operator.problems import KeyProviderUnavailable, Refused
from ferris_operator.process import metrics
from ferris_operator.records import Access, RunRecord, User
from ferris_operator.runner_reports import ReportError
from ferris_operator.server import queries, uploads, views
from ferris_operator.server.authz import Authorizer, TooManyReviews
from ferris_operator.server.console import SECURITY_HEADERS, security_headers
from ferris_operator.server.identity import (
    Impersonation,
    ImpersonationError,
    TokenCache,
    bearer_token,
    impersonation,
    user_from_certificate,
)
from ferris_operator.server.origins import cross_site_refusal
from ferris_operator.server.queries import QueryError
from ferris_operator.server.reading import read_at_most
from ferris_operator.store.db import DATABASE_ERRORS
from ferris_operator.work.ratelimit import Holds, TokenBuckets

log = logging.getLogger("ferris.server")
Handler = Callable[[web.Request, User], Awaitable[web.StreamResponse]]
PREFIX = "/api/v1/namespaces/{namespace}"
REQUESTED_BY = "ferris.io/requested-by"
FOLLOW_POLL_SECONDS = 0.5  # with the runner's second between chunks: lines shown within 2 s
FOLLOW_MAX_SECONDS = 6 * 3600
# Long requests (a followed log, an event's answer waited for) held open at once: per user, and
# by everyone together on one server replica.
HELD_PER_USER, HELD_TOTAL = 8, 512

LIST_RUNS = Access("list", model.RUNS)
GET_RUN = Access("get", model.RUNS)
GET_LOG = Access("get", model.RUNS, "log")
CANCEL_RUN = Access("patch", model.RUNS)  # what `kubectl patch ... spec.cancel` would need
CREATE_RUN = Access("create", model.RUNS)
LIST_PACKAGES = Access("list", model.PACKAGES)
GET_PACKAGE = Access("get", model.PACKAGES)
UPLOAD_SECRETS = Access("update", model.PACKAGES, "secrets")
LIST_EVENTS = Access("list", model.EVENTS)
SEND_EVENTS = Access("create", model.EVENTS)
PERMISSIONS = {
    "listRuns": LIST_RUNS,
    "getRun": GET_RUN,
    "getLog": GET_LOG,
    "createRuns": CREATE_RUN,
    "cancelRuns": CANCEL_RUN,
    "listPackages": LIST_PACKAGES,
    "uploadSecrets": UPLOAD_SECRETS,
    "listEvents": LIST_EVENTS,
    "sendEvents": SEND_EVENTS,
    "listSecretWrites": Access("list", model.PROJECT_SECRETS),
    "listTriggers": Access("list", model.TRIGGERS),
}
UNKNOWN_CREDENTIALS = "tokens the cluster refused"  # the one key of the failure limiter


class TooManyHeld(Exception):
    """The user (or everyone) holds the most long requests a server replica keeps open."""

    def __init__(self, user: str) -> None:
        super().__init__(
            f"user {user!r} already holds {HELD_PER_USER} followed logs or waited-for answers open"
            f" (or the server its {HELD_TOTAL}): close one, or ask without follow"
        )


class TooManyUnknownCredentials(Exception):
    """Reviews of tokens not seen lately have failed faster than the limiter allows."""


# What --as needs, as the API server checks it (the core group's impersonate verb).
IMPERSONATE_USERS = Access("impersonate", "users", group="")
IMPERSONATE_GROUPS = Access("impersonate", "groups", group="")
IMPERSONATE_SERVICE_ACCOUNTS = Access("impersonate", "serviceaccounts", group="")


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    needs: tuple[Access, ...]  # every one must be allowed; empty: any authenticated user
    handler: Handler
    summary: str


@contextlib.contextmanager
def held(holds: Holds, user: User) -> Iterator[None]:
    """One long request of ``user`` held open for the block; ``TooManyHeld`` when it holds the most."""
    key = user.person()
    if not holds.take(key):
        raise TooManyHeld(user.name)
    try:
        yield
    finally:
        holds.give_back(key)


def _error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers or None)


class ServerApi:
    def __init__(
        self,
        kube: KubePort,
        history: HistoryPort,
        tokens: TokenCache,
        authorizer: Authorizer,
        limiter: TokenBuckets | None = None,
        vault: VaultPort | None = None,
        more_routes: Sequence[Route] = (),
        public_url: str = "",
        holds: Holds | None = None,
        params_vault: VaultPort | None = None,
    ) -> None:
        parts = urllib.parse.urlsplit(public_url)
        self.public_origin = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
        self.more_routes = tuple(more_routes)  # other rooms' routes (events), behind the same guard
        self.vault = vault  # None: no secrets upload (chart server.secretsUpload)
        self.params_vault = params_vault or vault  # where runs' secret params are kept (None: refused)
        self.kube = kube
        self.history = history
        self.tokens = tokens
        self.authorizer = authorizer
        self.limiter = limiter or TokenBuckets()
        self.holds = holds or Holds(HELD_PER_USER, HELD_TOTAL)

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/api/v1/self", (), self.whoami, "the user this request is made as"),
            Route(
                "GET",
                f"{PREFIX}/permissions",
                (),
                self.permissions,
                "what the user may do in the namespace (the console shows only those buttons)",
            ),
            Route("GET", f"{PREFIX}/runs", (LIST_RUNS,), self.list_runs, "a page of runs, newest first"),
            # The server reads the package for these (its params form, its secrets source): the
            # user must be allowed to read it too, not only to create runs or replace secrets.
            Route("POST", f"{PREFIX}/runs", (CREATE_RUN, GET_PACKAGE), self.create_run, "start a run of a package"),
            Route("GET", f"{PREFIX}/runs/{{name}}", (GET_RUN,), self.get_run, "one run with its steps"),
            Route(
                "GET",
                f"{PREFIX}/runs/{{name}}/steps/{{index}}/log",
                (GET_LOG,),
                self.step_log,
                "a step's full output; ?follow=true streams it while the step runs, ?offset=N from character N",
            ),
            Route(
                "POST",
                f"{PREFIX}/runs/{{name}}/rerun",
                (GET_RUN, CREATE_RUN, GET_PACKAGE),
                self.rerun,
                "start the run's package again, with its params or edited ones",
            ),
            Route(
                "POST",
                f"{PREFIX}/runs/{{name}}/cancel",
                (GET_RUN, CANCEL_RUN),
                self.cancel,
                "stop a run: its spec.cancel set; the operator stops its pod and ends it Cancelled",
            ),
            Route("GET", f"{PREFIX}/packages", (LIST_PACKAGES,), self.list_packages, "the namespace's packages"),
            Route("GET", f"{PREFIX}/packages/{{name}}", (GET_PACKAGE,), self.get_package, "one package"),
            Route(
                "PUT",
                f"{PREFIX}/packages/{{name}}/secrets",
                (UPLOAD_SECRETS, GET_PACKAGE),
                self.upload_secrets,
                "replace a package's secrets with a secrets.json, straight into the vault; answers names only",
            ),
            *self.more_routes,
        ]

    def app(self) -> web.Application:
        body_limit = max(queries.MAX_PARAMS_BYTES, secrets_json.MAX_BYTES) + 4096
        app = web.Application(client_max_size=body_limit, middlewares=[security_headers])
        app.add_routes([web.route(r.method, r.path, self._guard(r)) for r in self.routes()])
        return app

    # ---- the one authorization point -----------------------------------------------------------
    def _guard(self, route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def guarded(request: web.Request) -> web.StreamResponse:
            crossing = cross_site_refusal(
                request.method, request.headers, self._own_origins(request), request.body_exists
            )
            if crossing is not None:
                metrics.SERVER_REFUSED.labels("cross-site").inc()
                return _error(*crossing)
            try:
                user = await self._user(request)
                if user is None:
                    metrics.SERVER_REFUSED.labels("unauthenticated").inc()
                    return _error(
                        401,
                        "authenticate with a bearer token or a client certificate",
                        **{"WWW-Authenticate": 'Bearer realm="ferris"'},
                    )
                asked = impersonation(request.headers, lambda name: request.headers.getall(name, []))
                if asked is not None:
                    refusal = await asyncio.to_thread(self._impersonation_refused, user, asked)
                    if refusal:
                        metrics.SERVER_REFUSED.labels("forbidden").inc()
                        return _error(403, refusal)
                    user = asked.as_user()
                namespace = request.match_info.get("namespace", "")
                if namespace:
                    queries.name(namespace, "namespace")
                for access in route.needs:
                    allowed = await asyncio.to_thread(self.authorizer.allowed, user, access, namespace)
                    if not allowed:
                        metrics.SERVER_REFUSED.labels("forbidden").inc()
                        return _error(403, f"user {user.name!r} may not {access.describe(namespace)}")
                return await route.handler(request, user)
            except (QueryError, ReportError, ImpersonationError) as exc:
                return _error(400, str(exc))
            except TooManyReviews as exc:
                metrics.SERVER_REFUSED.labels("rate-limited").inc()
                return _error(429, str(exc), **{"Retry-After": str(exc.retry_after)})
            except TooManyHeld as exc:
                metrics.SERVER_REFUSED.labels("rate-limited").inc()
                return _error(429, str(exc), **{"Retry-After": "5"})
            except TooManyUnknownCredentials:
                metrics.SERVER_REFUSED.labels("rate-limited").inc()
                return _error(429, "too many requests with credentials the cluster does not know; retry shortly")
            except DATABASE_ERRORS:
                metrics.DATABASE_ERRORS.inc()
                return _error(503, "database unavailable; retry later")
            except KeyProviderUnavailable:
                metrics.KEY_PROVIDER_ERRORS.inc()
                return _error(503, "key provider unavailable; retry later")

        return guarded

    def _own_origins(self, request: web.Request) -> tuple[str, ...]:
        """The origins the console is served from: the public URL, and the host asked for."""
        return tuple(o for o in (self.public_origin, f"{request.scheme}://{request.host}") if o)

    def _impersonation_refused(self, caller: User, asked: Impersonation) -> str | None:
        """Why ``caller`` may not act as ``asked`` (None: it may), from the cluster's RBAC."""
        account = asked.service_account()
        checks = [(IMPERSONATE_SERVICE_ACCOUNTS, *account)] if account else [(IMPERSONATE_USERS, "", asked.user)]
        checks += [(IMPERSONATE_GROUPS, "", group) for group in asked.groups]
        for access, namespace, name in checks:
            if not self.authorizer.allowed(caller, access, namespace, name):
                where = f" in namespace {namespace}" if namespace else ""
                return (
                    f"user {caller.name!r} may not impersonate {access.resource.removesuffix('s')} {name!r}: that needs"
                    f" the impersonate verb on {access.resource} (core API group){where}; ask an administrator for it,"
                    " or leave out --as"
                )
        return None

    async def _user(self, request: web.Request) -> User | None:
        """Authentication first: a client certificate, or a token the cluster said yes (or no)
        to within the cache's time, costs nothing and is never limited, whatever else comes from
        the same address (behind an Ingress, every user's address is the Ingress's). Only the
        reviews of tokens not seen lately are bounded, all together: a flood of made-up tokens
        gets 429 once it has spent the burst, instead of a TokenReview each."""
        transport = request.transport
        certificate = transport.get_extra_info("peercert") if transport is not None else None
        user = user_from_certificate(certificate)
        if user is not None:
            return user
        token = bearer_token(request.headers.get("Authorization", ""))
        if token is None:
            return None
        known, user = self.tokens.known(token)
        if known:
            return user
        if self.limiter.blocked(UNKNOWN_CREDENTIALS):
            raise TooManyUnknownCredentials
        user = await asyncio.to_thread(self.tokens.user, token)
        if user is None:
            self.limiter.spend(UNKNOWN_CREDENTIALS)
        return user

    # ---- routes --------------------------------------------------------------------------------
    async def whoami(self, request: web.Request, user: User) -> web.StreamResponse:
        return web.json_response({"name": user.name, "groups": list(user.groups)})

    async def permissions(self, request: web.Request, user: User) -> web.StreamResponse:
        namespace = request.match_info["namespace"]
        allowed = await asyncio.gather(
            *(asyncio.to_thread(self.authorizer.allowed, user, access, namespace) for access in PERMISSIONS.values())
        )  # the reviews in parallel, not one after another
        return web.json_response(dict(zip(PERMISSIONS, allowed, strict=True)))

    async def list_runs(self, request: web.Request, user: User) -> web.StreamResponse:
        where, after, limit = queries.run_page(request.match_info["namespace"], request.query)
        runs, cursor = await asyncio.to_thread(self.history.page, where, after, limit)
        return web.json_response({"items": [views.run(r) for r in runs], "continue": views.cursor_token(cursor)})

    async def get_run(self, request: web.Request, user: User) -> web.StreamResponse:
        record = await self._run(request)
        if record is None:
            return self._no_run(request)
        steps = await asyncio.to_thread(self.history.steps, record.uid)
        outputs = await asyncio.to_thread(self.history.outputs, record.uid)
        return web.json_response({**views.run_with_steps(record, steps), "outputs": outputs})

    async def step_log(self, request: web.Request, user: User) -> web.StreamResponse:
        index = queries.step_index(request.match_info["index"])
        offset = queries.output_offset(request.query.get("offset"))
        record = await self._run(request)
        step = await asyncio.to_thread(self.history.output, record.uid, index, offset) if record else None
        if record is None or step is None:
            return _error(404, f"run {request.match_info['name']} has no step {index}")
        if request.query.get("follow") not in ("true", "1"):
            return web.Response(text=step.output, content_type="text/plain", charset="utf-8")
        with held(self.holds, user):
            return await self._follow(request, record, index, offset, step.output, step.phase)

    async def _follow(
        self, request: web.Request, record: RunRecord, index: int, offset: int, output: str, phase: str
    ) -> web.StreamResponse:
        """The output from character ``offset`` on, then what is added (a running step's chunks),
        until the step or the run ends. A follower cut off asks again from what it has shown."""
        response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8", **SECURITY_HEADERS})
        await response.prepare(request)
        sent = offset  # characters of the output written so far; each poll reads only what follows
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FOLLOW_MAX_SECONDS
        while True:
            if output:
                await response.write(output.encode())
                sent += len(output)
            run = await asyncio.to_thread(self.history.find, record.namespace, record.name)
            if phase in model.STEP_TERMINAL or run is None or run.terminal or loop.time() > deadline:
                break
            if request.transport is None or request.transport.is_closing():  # the client left
                break
            await asyncio.sleep(FOLLOW_POLL_SECONDS)
            step = await asyncio.to_thread(self.history.output, record.uid, index, sent)
            if step is None:
                break
            output, phase = step.output, step.phase
        await response.write_eof()
        return response

    async def create_run(self, request: web.Request, user: User) -> web.StreamResponse:
        # Read past the app's body limit: a run's files may come with it, bounded here.
        limit = queries.MAX_RUN_BODY_BYTES
        if (request.content_length or 0) > limit:
            return _error(413, f"body is {request.content_length} bytes, over the limit of {limit} for a new run")
        raw = await read_at_most(request, limit)
        if len(raw) > limit:
            return _error(413, f"body is over the limit of {limit} bytes for a new run")
        body = await asyncio.to_thread(runner_reports.decode, raw, limit, 4096)
        package, params, timeout = queries.new_run(body)
        files = await asyncio.to_thread(queries.param_files, body.get("files"))
        return await self._start(request.match_info["namespace"], package, params, timeout, user, files=files)

    async def rerun(self, request: web.Request, user: User) -> web.StreamResponse:
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        record = await self._run(request)
        if record is None:
            return self._no_run(request)
        raw = await request.read()
        body = runner_reports.decode(raw, queries.MAX_PARAMS_BYTES, 4096) if raw else {}
        if not isinstance(body, dict) or set(body) - {"params", "fromStep"}:
            raise QueryError('body must be empty or {"params": {...}, "fromStep": N}')
        from_step = queries.from_step(body.get("fromStep"))
        if "params" in body:
            params = queries.params(body["params"])
        elif record.params is not None:
            params = dict(record.params)  # as the run started with them (defaults filled in)
        else:
            return _error(
                409,
                f"run {name}'s params were not kept (recorded by an older Ferris, or over 64 KiB); "
                'rerun it with {"params": {...}}',
            )
        rerun = (name, from_step) if from_step is not None else None
        return await self._start(namespace, record.package_name, params, None, user, rerun)

    async def cancel(self, request: web.Request, user: User) -> web.StreamResponse:
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        record = await self._run(request)
        if record is not None and record.terminal:
            return _error(409, f"run {name} has ended ({record.phase}); there is nothing to cancel")
        try:
            found = await asyncio.to_thread(self.kube.cancel_run, namespace, name)
        except Exception as exc:  # the API server's refusal of the server itself (its RBAC, a webhook)
            refusal = self.kube.refusal(exc)
            if refusal is None:
                raise
            return _error(502, f"the API server refused to cancel run {name}: {refusal}")
        if not found:
            return self._no_run(request)
        log.info("run %s/%s cancelled for %s", namespace, name, user.name)
        return web.json_response({"namespace": namespace, "name": name, "cancel": True}, status=202)

    async def _start(
        self,
        namespace: str,
        package: str,
        params: dict[str, Any],
        timeout: int | None,
        user: User,
        rerun: tuple[str, int] | None = None,
        files: dict[str, tuple[str, bytes]] | None = None,
    ) -> web.StreamResponse:
        found = await asyncio.to_thread(self.kube.get_package, namespace, package)
        if found is None:
            return _error(404, f"no FerrisPackage {package} in namespace {namespace}")
        spec = found.get("spec") or {}
        if rerun is not None and not spec.get("allowRerunFromStep"):  # answered now; the operator checks again
            return _error(
                409,
                f"FerrisPackage {package} does not allow reruns from a step; its author may set"
                " spec.allowRerunFromStep: true (or rerun the whole run)",
            )
        schema = spec.get("paramsSchema")
        public, secret = params_schema.split(schema, params)
        masked = sorted(name for name, value in secret.items() if value == params_schema.MASK)
        if masked:  # a rerun with the params history kept: the secret ones were never kept
            raise QueryError(f"params: {', '.join(masked)} are secret and were not kept; give them again")
        if secret and self.params_vault is None:
            return _error(501, "this server keeps no secret params: it has no master key")
        public.update(_file_values(schema, params, files or {}))  # the files' names and sizes: anyone may see them
        if files and self.params_vault is None:
            return _error(501, "this server keeps no files for file params: it has no master key")
        try:  # the check the run would fail at start, answered now (the operator checks again)
            params_schema.apply(schema, {**(spec.get("params") or {}), **params, **public})
        except ParamsError as exc:
            raise QueryError(f"params: {exc}") from None
        manifest = run_manifest(package, public, timeout)
        manifest["metadata"]["annotations"] = {REQUESTED_BY: user.name[:253]}
        if secret:  # names only: the values go to the vault, bound to the run, once it exists
            manifest["metadata"]["annotations"][model.ANNOTATION_SECRET_PARAMS] = ",".join(sorted(secret))
        if rerun is not None:  # the operator checks the package allows it and the run is its, ended
            manifest["spec"]["rerunOf"], manifest["spec"]["fromStep"] = rerun
        try:
            created = await asyncio.to_thread(self.kube.create_run, namespace, manifest)
        except Refused as refused:
            return _error(400, f"the API server refused the run: {refused}")
        package_uid, run_uid = found["metadata"]["uid"], created["metadata"]["uid"]
        if secret:
            assert self.params_vault is not None
            await asyncio.to_thread(self.params_vault.put_run_params, package_uid, run_uid, secret)
        if files:
            assert self.params_vault is not None
            await asyncio.to_thread(self.params_vault.put_param_files, package_uid, run_uid, files)
        log.info("run %s/%s of %s started for %s", namespace, created["metadata"]["name"], package, user.name)
        return web.json_response({"namespace": namespace, "name": created["metadata"]["name"]}, status=201)

    async def list_packages(self, request: web.Request, user: User) -> web.StreamResponse:
        namespace = request.match_info["namespace"]
        found = await asyncio.to_thread(lambda: list(self.kube.iter_packages((namespace,))))
        return web.json_response({"items": [views.package(p) for p in found]})

    async def get_package(self, request: web.Request, user: User) -> web.StreamResponse:
        namespace, name = request.match_info["namespace"], queries.name(request.match_info["name"], "package")
        found = await asyncio.to_thread(self.kube.get_package, namespace, name)
        if found is None:
            return _error(404, f"no FerrisPackage {name} in namespace {namespace}")
        return web.json_response(views.package_detail(found, datetime.datetime.now(datetime.UTC)))

    async def upload_secrets(self, request: web.Request, user: User) -> web.StreamResponse:
        if self.vault is None:
            return _error(501, "secrets upload is off: the server has no master key (chart value server.secretsUpload)")
        namespace, name = request.match_info["namespace"], queries.name(request.match_info["name"], "package")
        raw = await read_at_most(request, secrets_json.MAX_BYTES)
        try:
            summary = await asyncio.to_thread(uploads.upload, self.kube, self.vault, namespace, name, raw, user)
        except uploads.UploadRefused as refused:
            return _error(refused.status, str(refused))
        return web.json_response(summary)

    # ---- shared --------------------------------------------------------------------------------
    async def _run(self, request: web.Request) -> RunRecord | None:
        namespace, name = request.match_info["namespace"], queries.name(request.match_info["name"], "run")
        return await asyncio.to_thread(self.history.find, namespace, name)

    @staticmethod
    def _no_run(request: web.Request) -> web.Response:
        return _error(404, f"no run {request.match_info['name']} in namespace {request.match_info['namespace']}")


def _file_values(
    schema: ParamsSchema | None, params: dict[str, Any], files: dict[str, tuple[str, bytes]]
) -> dict[str, Any]:
    """The run's file params as its FerrisRun holds them (each file's name and size), checked
    against the form: a file only for a file param, within its maxBytes and accept, all of a
    run's files within MAX_FILE_BYTES; a file param never given in ``params``."""
    fields = (schema or {}).get("properties") or {}
    written = sorted(params_schema.file_names(schema) & set(params))
    if written:
        raise QueryError(
            f"params.{written[0]} is a file param: give its file in files (ferris run -p {written[0]}=@PATH)"
        )
    total = sum(len(content) for _, content in files.values())
    if total > params_schema.MAX_FILE_BYTES:
        raise QueryError(f"files: {total} bytes together, over the {params_schema.MAX_FILE_BYTES} a run may be given")
    values = {}
    for param, (file_name, content) in files.items():
        field = fields.get(param)
        if not isinstance(field, dict) or field.get("type") != "file":
            raise QueryError(f"files.{param}: the package's paramsSchema has no file param {param}")
        try:
            params_schema.check_file(param, field, file_name, len(content))
        except ParamsError as exc:
            raise QueryError(f"files.{param}: {exc}") from None
        values[param] = params_schema.file_value(file_name, len(content))
    return values
