"""``GET /api/v1/overview``: the namespaces where the user may read Ferris objects, with what is
going on in them, for the console's first screen and ``ferris overview``.

Any authenticated user may ask; what they are told is decided per namespace with their own
access, through the one Authorizer (SubjectAccessReviews, kept 30 s): ``list ferrisruns`` for
runs and counts, ``list ferrispackages`` for package counts and schedules. A user who may list
both in every namespace costs two reviews; anyone else at most MAX_CHECKED namespaces a request
(two reviews each), the ones they named or belong to first; the answer says how many are left
unasked (those past the bound, and those the user's review budget did not reach), and
``?from=N`` asks about the next ones."""

from __future__ import annotations

import asyncio
import datetime
import threading
import time
from collections import defaultdict

from aiohttp import web

from ferris_operator.bodies import PackageBody
from ferris_operator.ports import HistoryPort, KubePort
from ferris_operator.records import Overview, User
from ferris_operator.server import overview, queries
from ferris_operator.server.api import PERMISSIONS, Route
from ferris_operator.server.authz import Authorizer, TooManyReviews
from ferris_operator.server.overview import Readable

LIST_RUNS, LIST_PACKAGES = PERMISSIONS["listRuns"], PERMISSIONS["listPackages"]
MAX_CHECKED = 20  # 40 reviews: a user's bucket (100, then 2 a second) refills them within the cache's 30 s
MAX_PREFERRED = 5
MOST = 20  # runs (and scheduled times) of each list
WINDOW = datetime.timedelta(hours=24)
NOTHING = Overview({}, [], [])


class PackageIndex:
    """Every FerrisPackage of the watched namespaces (all when none are set), listed again at
    most every ``seconds``: a console opened by many people costs one list, not one each."""

    def __init__(self, kube: KubePort, namespaces: tuple[str, ...], seconds: float = 5.0) -> None:
        self.kube, self.namespaces, self.seconds = kube, namespaces, seconds
        self._lock = threading.Lock()
        self._listed: tuple[float, dict[str, list[PackageBody]]] | None = None

    def by_namespace(self) -> dict[str, list[PackageBody]]:
        with self._lock:
            if self._listed is not None and time.monotonic() - self._listed[0] < self.seconds:
                return self._listed[1]
            found: dict[str, list[PackageBody]] = defaultdict(list)
            for package in self.kube.iter_packages(self.namespaces):
                found[package["metadata"]["namespace"]].append(package)
            self._listed = (time.monotonic(), dict(found))
            return self._listed[1]


class OverviewApi:
    def __init__(
        self, kube: KubePort, history: HistoryPort, authorizer: Authorizer, namespaces: tuple[str, ...] = ()
    ) -> None:
        self.history = history
        self.authorizer = authorizer
        self.packages = PackageIndex(kube, namespaces)

    def routes(self) -> list[Route]:
        return [
            Route(
                "GET",
                "/api/v1/overview",
                (),  # decided per namespace below, with the user's own access
                self.overview,
                "the namespaces you may read Ferris objects in, with running, queued and failed runs and the next"
                " scheduled ones; ?prefer=NS,NS asks about those first, ?from=N about the ones after the first N",
            )
        ]

    async def overview(self, request: web.Request, user: User) -> web.StreamResponse:
        preferred = [queries.name(n, "namespace") for n in (request.query.get("prefer") or "").split(",") if n]
        if len(preferred) > MAX_PREFERRED:
            raise queries.QueryError(f"prefer names at most {MAX_PREFERRED} namespaces")
        start = queries.whole(request.query.get("from"), "from")
        own = overview.own_namespace(user)
        packages = await asyncio.to_thread(self.packages.by_namespace)
        order = overview.candidates(packages, [*preferred, *([own] if own else [])])
        everywhere = await self._allowed(user, "")
        chosen = order[start:] if all(everywhere) else order[start : start + MAX_CHECKED]
        answers = await asyncio.gather(*(self._readable(user, namespace, everywhere) for namespace in chosen))
        readable = [r for r in answers if r is not None]  # None: the user's reviews ran out; asked next time
        shown = [r for r in readable if r.runs or r.packages]
        since = datetime.datetime.now(datetime.UTC) - WINDOW
        with_runs = [r.namespace for r in shown if r.runs]
        facts = await asyncio.to_thread(self.history.overview, with_runs, since, MOST) if with_runs else NOTHING
        unchecked = max(0, len(order) - start - len(chosen)) + len(answers) - len(readable)
        gap = next((i for i, answer in enumerate(answers) if answer is None), len(answers))
        after = start + gap if unchecked else None  # where ?from= asks on: the first namespace not checked
        return web.json_response(overview.summary(shown, packages, facts, since, (unchecked, after), MOST))

    async def _allowed(self, user: User, namespace: str) -> tuple[bool, bool]:
        runs, packages = await asyncio.gather(
            asyncio.to_thread(self.authorizer.allowed, user, LIST_RUNS, namespace),
            asyncio.to_thread(self.authorizer.allowed, user, LIST_PACKAGES, namespace),
        )
        return runs, packages

    async def _readable(self, user: User, namespace: str, everywhere: tuple[bool, bool]) -> Readable | None:
        """Only what the user may not read everywhere is asked about here; None when the
        user's reviews ran out (the namespace counts as unchecked, not as unreadable)."""
        try:
            runs = everywhere[0] or await asyncio.to_thread(self.authorizer.allowed, user, LIST_RUNS, namespace)
            packages = everywhere[1] or await asyncio.to_thread(self.authorizer.allowed, user, LIST_PACKAGES, namespace)
        except TooManyReviews:
            return None
        return Readable(namespace, runs, packages)
