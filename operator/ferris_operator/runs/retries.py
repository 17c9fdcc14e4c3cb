"""The FerrisRuns that retries ask for: a run's ``context.scheduler.retry``, and the next attempt
of a run that failed as its package's ``spec.retries`` says (requested in the transaction that
ended it). Each request (kept in PostgreSQL) becomes one run of the same package, named by the
request, waiting until its time (``spec.startAfter``). Made once: a name that exists and is that
request's run is taken as made; a foreign object under it is never taken for it, and no run
inherits an attempt it was not made for (the request records the uid of the run made).

The name is predictable (``<run>-attempt-2``), so whoever may create FerrisRuns in the namespace
can create one under it first, spec and annotations copied. What tells the request's own run is
the operator's stamp on it, bound to the namespace, the name and the request (no key, no stamp)."""

from __future__ import annotations

from typing import Any

from ferris_operator import model, reasons
from ferris_operator.builders.run_manifest import run_manifest
from ferris_operator.crypto.run_tokens import RunTokens
from ferris_operator.ports import KubePort, RunStorePort
from ferris_operator.records import RetryRequest
from ferris_operator.work import separately


class Retries:
    def __init__(self, kube: KubePort, store: RunStorePort, tokens: RunTokens) -> None:
        self.kube = kube
        self.store = store
        self.tokens = tokens

    def make_for(self, run_uid: str | None = None) -> list[RetryRequest]:
        """The pending requests of one run (None: of every run); those made now."""
        made: list[RetryRequest] = []

        def make(request: RetryRequest) -> None:
            if self.make(request):
                made.append(request)

        separately.each("retries", self.store.pending_retries(run_uid), make, _describe)
        return made

    def make(self, request: RetryRequest) -> bool:
        """Make the request's FerrisRun; False when its name was taken by another object."""
        manifest = run_manifest(
            request.package_name,
            request.params,
            None,
            model.TRIGGER_RETRY,
            name=request.run_name,
            start_after=request.start_after,
        )
        manifest["metadata"]["namespace"] = request.namespace
        manifest["metadata"]["annotations"] = {
            model.ANNOTATION_RETRY_OF: request.run_uid,
            model.ANNOTATION_RETRY_STAMP: self.tokens.stamp(*_stamped(request)),
            model.ANNOTATION_CHAIN_DEPTH: str(request.made_depth),  # a retry does not start a chain anew
        }
        run, created = self.kube.create_or_get(manifest)
        if not created and not self._is_requests_run(run, request):
            message = f"FerrisRun {request.run_name} exists and is not the retry a run asked for; it was not made"
            involved = {"metadata": {"namespace": request.namespace, "name": request.package_name}}
            self.kube.event(involved, "FerrisPackage", reasons.RETRY_NAME_TAKEN, message)
            self.store.retry_made(request.id, None)
            return False
        self.store.retry_made(request.id, (run.get("metadata") or {}).get("uid"))
        return True

    def _is_requests_run(self, run: dict[str, Any], request: RetryRequest) -> bool:
        """The existing FerrisRun is the one this operator made for ``request`` (before a restart
        lost the record of it), not one made to look like it."""
        spec, annotations = run.get("spec") or {}, (run.get("metadata") or {}).get("annotations") or {}
        return (
            (spec.get("packageRef") or {}).get("name") == request.package_name
            and spec.get("trigger") == model.TRIGGER_RETRY
            and annotations.get(model.ANNOTATION_RETRY_OF) == request.run_uid
            and self.tokens.stamped(str(annotations.get(model.ANNOTATION_RETRY_STAMP) or ""), *_stamped(request))
        )


def _stamped(request: RetryRequest) -> tuple[str, ...]:
    """What a retry's stamp binds: where it is, its name, the request and the run that asked."""
    return ("retry", request.namespace, request.run_name, str(request.id), request.run_uid)


def _describe(request: RetryRequest) -> str:
    return f"retry {request.run_name} in {request.namespace}"
