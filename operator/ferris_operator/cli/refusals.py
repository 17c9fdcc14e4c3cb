"""An API server's refusal told as one line that says what to do, never a traceback.

Verbs that talk to the API server directly (``run``, ``schedules``, ``seal``, ``keys``) raise the
client library's ``ApiException``; the command line turns it into its message here. The library
is loaded only by the verbs that need it, so this module looks it up instead of importing it."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ferris_operator.cli.kubeconfig import KubeContext

HINTS = {
    401: "the kubeconfig's credential was refused: log in again (or refresh its token) and retry",
    403: "you lack that right: ask for it, or check it with `kubectl auth can-i`",
    404: "check the name and the namespace (-n)",
    409: "it exists already (or changed meanwhile): read it again, or use another name",
    422: "fix the field the message names",
}


def api_refusal(exc: BaseException, kube: KubeContext | None = None) -> str | None:
    """The line a user reads for an API server's answer, or None when ``exc`` is not one. A 401
    is told as the server verbs tell it, naming the kubeconfig's credential (``kube``, the
    context the command loaded), when there is one."""
    unreachable = _unreachable(exc, kube)
    if unreachable is not None:
        return unreachable
    exceptions = sys.modules.get("kubernetes.client.exceptions")
    if exceptions is None or not isinstance(exc, exceptions.ApiException):
        return None
    from ferris_operator.k8s.errors import api_message

    if exc.status == 401 and kube is not None:
        return kube.refused(f"the API server answered 401 Unauthorized: {api_message(exc)}")
    said = f"the API server answered {exc.status} {exc.reason}: {api_message(exc)}"
    hint = HINTS.get(int(exc.status or 0))
    return f"{said} ({hint})" if hint else said


def _unreachable(exc: BaseException, kube: KubeContext | None) -> str | None:
    """The line for an API server that did not answer (refused, unknown host, TLS failed), after
    the client library's own retries; None when ``exc`` is something else."""
    urllib3 = sys.modules.get("urllib3.exceptions")
    if urllib3 is None or not isinstance(exc, urllib3.MaxRetryError):
        return None
    server = getattr(getattr(kube, "configuration", None), "host", None) or "the kubeconfig's server"
    reason = str(getattr(exc.reason, "reason", None) or exc.reason or exc).rpartition(": ")[2] or str(exc)
    context = f" (context {kube.context!r})" if kube is not None else ""
    return (
        f"cannot reach the API server at {server}{context}: {reason}. Check that the cluster is up and that the"
        " kubeconfig names it (`kubectl cluster-info` with the same kubeconfig and context)"
    )
