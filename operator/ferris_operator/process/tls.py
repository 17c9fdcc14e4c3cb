"""TLS server contexts from a mounted certificate directory (``tls.crt``, ``tls.key``,
``ca.crt``), as cert-manager and the chart lay them out."""

from __future__ import annotations

import ssl
from pathlib import Path


def serving_context(directory: Path, client_ca: str | None = None) -> tuple[ssl.SSLContext, str]:
    """The context and the CA (PEM) that clients verify it with. With ``client_ca``, a client
    certificate signed by it is asked for and verified (optional: tokens are the other way in).
    Missing or unreadable files raise OSError or ssl.SSLError naming the file."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(directory / "tls.crt", directory / "tls.key")
    if client_ca:
        context.load_verify_locations(cadata=client_ca)
        context.verify_mode = ssl.CERT_OPTIONAL
    return context, (directory / "ca.crt").read_text()
