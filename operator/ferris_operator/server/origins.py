"""Whether a request that changes something may come from where it comes from. A browser that
holds a cluster client certificate sends it to any page that asks, and a plain HTML form or a
`text/plain` fetch from a foreign site needs no CORS preflight: such a request could start runs
as that user. So every state-changing request must carry a JSON body (a type a foreign page
cannot send without a preflight, which this server never grants) and must not come from another
site (`Origin`, `Sec-Fetch-Site`). CLIs and the `ferris console` proxy send neither header.
Pure."""

from __future__ import annotations

from collections.abc import Mapping

CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
JSON_TYPES = frozenset({"application/json", "application/cloudevents+json"})
SAME_SITE = frozenset({"same-origin", "none"})  # none: typed by the user, or not a browser


def cross_site_refusal(
    method: str, headers: Mapping[str, str], own_origins: tuple[str, ...], has_body: bool = True
) -> tuple[int, str] | None:
    """(status, reason) when a state-changing request must be refused; None when it may go on.
    ``own_origins``: the server's own origins (``https://host:port``). A request with no body
    and no Content-Type (a rerun with the run's own params) is let through on the origin checks
    alone: every browser sends Origin with a cross-site POST."""
    if method.upper() not in CHANGING:
        return None
    origin = headers.get("Origin")
    if origin is not None and origin not in own_origins:
        return 403, f"a request that changes something must come from the console itself, not from {origin[:200]}"
    site = headers.get("Sec-Fetch-Site")
    if site is not None and site not in SAME_SITE:
        return 403, f"a request that changes something must not come from another site (Sec-Fetch-Site: {site[:40]})"
    media = headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    if not media and not has_body:
        return None
    if media not in JSON_TYPES and not headers.get("ce-specversion"):
        shown = media or "none"
        return 415, f"send the body as JSON (Content-Type: application/json), not {shown[:100]}"
    return None
