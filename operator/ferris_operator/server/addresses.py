"""Which address a request came from, for limits kept per address. Pure.

Behind a proxy (the chart's Ingress, a cloud load balancer) every request arrives from the
proxy's address, and the sender's is in ``X-Forwarded-For``, which anyone can write. It is read
only when the request came from a configured trusted proxy (``FERRIS_SERVER_TRUSTED_PROXIES``,
the chart's ``server.trustedProxies``), and then from the right: the first address that is not
itself a trusted proxy is the sender's (what a client put on the left is never believed)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(texts: Sequence[str]) -> tuple[Network, ...]:
    """CIDRs (or single addresses) as networks; ValueError naming the one that is not."""
    found = []
    for text in texts:
        try:
            found.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError:
            raise ValueError(f"trusted proxy {text!r} is not an address or a CIDR (10.0.0.0/8, say)") from None
    return tuple(found)


def _trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_address(remote: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]) -> str:
    """The sender's address: ``remote``, unless it is a trusted proxy that forwarded for someone."""
    address = remote or "unknown"
    if not _trusted(address, trusted):
        return address
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            return hop if _is_address(hop) else address
    return address


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
