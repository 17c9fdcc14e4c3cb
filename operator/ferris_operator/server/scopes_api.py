"""What scripts wrote into the project's and the platform's secrets, as the user: the audit of
writes and refusals by the namespace's runs (names, scope, run, version; never a value), newest
first (``list ferrisprojectsecrets``). The routes join the user API's route table, behind the
same authorization point."""

from __future__ import annotations

import asyncio

from aiohttp import web

from ferris_operator.ports import ScopeStorePort
from ferris_operator.records import User
from ferris_operator.server import queries, views
from ferris_operator.server.api import PERMISSIONS, PREFIX, Route
from ferris_operator.server.queries import QueryError

LIST_SECRET_WRITES = PERMISSIONS["listSecretWrites"]
MAX_PAGE = 200


class ScopesApi:
    def __init__(self, store: ScopeStorePort) -> None:
        self.store = store

    def routes(self) -> list[Route]:
        return [
            Route(
                "GET",
                f"{PREFIX}/secretwrites",
                (LIST_SECRET_WRITES,),
                self.writes,
                "the secrets the namespace's runs wrote or were refused, newest first (names only)",
            )
        ]

    async def writes(self, request: web.Request, user: User) -> web.StreamResponse:
        namespace = request.match_info["namespace"]
        limit = queries.page_limit(request.query.get("limit"), MAX_PAGE)
        before = _before(request.query.get("continue"))
        found = await asyncio.to_thread(self.store.writes, namespace, limit, before)
        after = str(found[-1].seq) if len(found) == limit else None
        return web.json_response({"items": [views.secret_write(w) for w in found], "continue": after})


def _before(text: str | None) -> int | None:
    if not text:
        return None
    if not text.isdigit() or len(text) > 18:
        raise QueryError("continue must be the number a previous page gave")
    return int(text)
