"""Reading a request's body up to a bound of the route's own. aiohttp's ``StreamReader.read(n)``
answers with what has arrived, which for a body of more than one segment is only its start:
read to the end, or to one byte past the bound (the caller refuses a longer body)."""

from __future__ import annotations

from aiohttp import web


async def read_at_most(request: web.Request, limit: int) -> bytes:
    """The whole body when it is at most ``limit`` bytes; else its first ``limit + 1``."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = await request.content.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
