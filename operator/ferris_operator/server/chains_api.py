"""``GET .../chains``: a namespace's packages and the FerrisTriggers between them, as a graph
(``chains.py``), for who may list both (``list ferrispackages``, ``list ferristriggers``). The
route joins the user API's route table, behind the same authorization point."""

from __future__ import annotations

import asyncio

from aiohttp import web

from ferris_operator.ports import KubePort
from ferris_operator.records import User
from ferris_operator.server import chains
from ferris_operator.server.api import PERMISSIONS, PREFIX, Route

LIST_PACKAGES = PERMISSIONS["listPackages"]
LIST_TRIGGERS = PERMISSIONS["listTriggers"]


class ChainsApi:
    def __init__(self, kube: KubePort) -> None:
        self.kube = kube

    def routes(self) -> list[Route]:
        return [
            Route(
                "GET",
                f"{PREFIX}/chains",
                (LIST_PACKAGES, LIST_TRIGGERS),
                self.chains,
                "the namespace's packages and the FerrisTriggers that start one from another's end or from events",
            )
        ]

    async def chains(self, request: web.Request, user: User) -> web.StreamResponse:
        namespace = (request.match_info["namespace"],)
        packages, triggers = await asyncio.gather(
            asyncio.to_thread(lambda: list(self.kube.iter_packages(namespace))),
            asyncio.to_thread(lambda: list(self.kube.iter_triggers(namespace))),
        )
        return web.json_response(chains.graph(packages, triggers))
