"""The operator's Kubernetes adapter: every API call the handlers and services make."""

from __future__ import annotations

import json
import logging
import urllib.parse
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any, cast

import urllib3
from kubernetes import client
from kubernetes.client import rest
from kubernetes.client.exceptions import ApiException

from ferris_operator import model
from ferris_operator.bodies import EventSourceBody, PackageBody, RunBody, TriggerBody
from ferris_operator.k8s.errors import (
    ResourceNotServed,
    api_message,
    is_conflict,
    is_invalid,
    is_not_found,
    or_none,
    refusal,
    tolerating,
)
from ferris_operator.problems import Refused

__all__ = ["Kube", "Refused"]

log = logging.getLogger("ferris.k8s")


# Where each kind of run child lives: the collection path of a namespace.
COLLECTIONS = {
    "Secret": "/api/v1/namespaces/{namespace}/secrets",
    "ConfigMap": "/api/v1/namespaces/{namespace}/configmaps",
    "Job": "/apis/batch/v1/namespaces/{namespace}/jobs",
    "Pod": "/api/v1/namespaces/{namespace}/pods",
    "Event": "/api/v1/namespaces/{namespace}/events",
    # Cluster-wide mode: the runner egress policy of a namespace (builders/runner_egress.py).
    "NetworkPolicy": "/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies",
    # Scheduled runs: made under a name of their own, found again when made twice.
    "FerrisRun": f"/apis/{model.GROUP}/{model.VERSION}/namespaces/{{namespace}}/{model.RUNS}",
}
DELETABLE = frozenset({"Secret", "ConfigMap", "Job"})
BUNDLES_PER_LIST = 100  # run UIDs in one label selector (37 characters each in the URL)
# The reviews the server asks the API server for (k8s/reviews.py): created, never stored.
REVIEWS = {
    "TokenReview": "/apis/authentication.k8s.io/v1/tokenreviews",
    "SubjectAccessReview": "/apis/authorization.k8s.io/v1/subjectaccessreviews",
}
MERGE_PATCH = "application/merge-patch+json"
# The typed client's keywords of a list or watch, as the API server names them in the query.
QUERY_NAMES = {
    "label_selector": "labelSelector",
    "field_selector": "fieldSelector",
    "limit": "limit",
    "_continue": "continue",
    "watch": "watch",
    "allow_watch_bookmarks": "allowWatchBookmarks",
    "resource_version": "resourceVersion",
    "timeout_seconds": "timeoutSeconds",
}
PARTIAL_METADATA = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
PARTIAL_METADATA_ONE = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"


def custom_path(
    plural: str, namespace: str = "", name: str = "", group: str = model.GROUP, version: str = model.VERSION
) -> str:
    """The path of a custom resource (cluster-scoped when ``namespace`` is ""), or its collection."""
    where = f"namespaces/{namespace}/" if namespace else ""
    return f"/apis/{group}/{version}/{where}{plural}" + (f"/{name}" if name else "")


USER_AGENT = "ferris-operator"


def _query_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


# Every request but a watch: seconds to connect, and seconds the API server may stay silent
# while answering. Without it a request to an API server that stopped answering (a half-open
# connection after a failover) would hold its handler or loop for ever; with it, the caller's
# retry takes over.
REQUEST_TIMEOUT = (10.0, 60.0)


def _timeout(timeout: Any) -> urllib3.Timeout:
    """The typed client's ``_request_timeout`` (seconds, or a (connect, read) pair) for urllib3."""
    if isinstance(timeout, tuple):
        return urllib3.Timeout(connect=timeout[0], read=timeout[1])
    return urllib3.Timeout(total=timeout)


class Kube:
    """Every call is a plain HTTP request with a JSON body and answer, through the client's
    connection pool and credentials. The typed API classes are never used: they validate and
    convert each body into the client's models and back (a Job's took a tenth of the operator's
    time in a burst; the API server validates it anyway), and importing them costs the
    operator about 25 MiB of memory."""

    def __init__(self, api: client.ApiClient, request_timeout: tuple[float, float] = REQUEST_TIMEOUT) -> None:
        self.api = api
        self.request_timeout = request_timeout
        # The API server's connection pool, taken once: urllib3's PoolManager works out which
        # pool a request goes to on every request (9 % of the operator's time in a burst). Not
        # through a proxy, whose manager rewrites each request.
        host = api.configuration.host
        manager = api.rest_client.pool_manager
        self._pool = None if api.configuration.proxy else manager.connection_from_url(host)
        self._base = urllib.parse.urlsplit(host).path.rstrip("/") if self._pool else host.rstrip("/")
        self._manager = manager
        self._headers = {"User-Agent": USER_AGENT}

    def _auth(self) -> dict[str, str]:
        """The bearer token header, read again each time (a mounted token is rotated); none
        where the client authenticates with a certificate."""
        bearer = self.api.configuration.auth_settings().get("BearerToken")
        return {"Authorization": str(bearer["value"])} if bearer and bearer["value"] else {}

    def _send(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
        query: dict[str, Any] | None = None,
        accept: str = "application/json",
        timeout: Any = None,
    ) -> rest.RESTResponse:
        """The raw response (its body not read yet); ``ApiException`` for an answer not 2xx."""
        headers = {**self._headers, **self._auth(), "Accept": accept}
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body).encode()
        url = path + ("?" + urllib.parse.urlencode({k: _query_value(v) for k, v in query.items()}) if query else "")
        opener = self._pool or self._manager
        raw = opener.urlopen(
            method,
            self._base + url,
            body=data,
            headers=headers,
            preload_content=False,
            timeout=_timeout(timeout or self.request_timeout),
        )
        response = rest.RESTResponse(raw)
        if not 200 <= response.status <= 299:
            answer = response.read() or b""
            raise ApiException.from_response(http_resp=response, body=answer.decode(errors="replace"), data=None)
        return response

    def _request(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
        query: dict[str, Any] | None = None,
        accept: str = "application/json",
    ) -> dict[str, Any]:
        """One request with a plain JSON body and answer."""
        response = self._send(method, path, body, content_type, query, accept)
        result: dict[str, Any] = json.loads(response.read() or b"null")
        return result

    def _call(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> None:
        """One request whose answer is not needed: read (the connection goes back to the pool),
        never parsed (a status patch answers with the whole object, a delete with it too)."""
        self._send(method, path, body, content_type).read()

    def _lister(self, path: str) -> Callable[..., Any]:
        """The list (with ``watch=True``, watch) of the collection ``path``, called with the
        typed client's keywords (k8s/watch.py's interface), answering the raw HTTP response."""

        def call(_preload_content: bool = False, _request_timeout: Any = None, **params: Any) -> Any:
            query = {QUERY_NAMES[key]: value for key, value in params.items()}
            return self._send("GET", path, query=query, timeout=_request_timeout).response

        return call

    @staticmethod
    def _path(kind: str, namespace: str, name: str | None = None) -> str:
        collection = COLLECTIONS[kind].format(namespace=namespace)
        return collection if name is None else f"{collection}/{name}"

    # ---- custom resources ------------------------------------------------------------------
    # The API server's answers are named with the kinds' bodies here, at the edge: its schema
    # checked them at admission.
    def get_package(self, namespace: str, name: str) -> PackageBody | None:
        return cast("PackageBody | None", self.get_custom(model.PACKAGES, namespace, name))

    def get_event_source(self, namespace: str, name: str) -> EventSourceBody | None:
        return cast("EventSourceBody | None", self.get_custom(model.EVENT_SOURCES, namespace, name))

    def get_custom(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """A Ferris object (cluster-scoped when ``namespace`` is ""), or None."""
        return or_none(lambda: self._request("GET", custom_path(plural, namespace, name)))

    def peering(self, name: str, namespace: str = "") -> dict[str, Any] | None:
        """kopf's peering object: cluster-wide, or in ``namespace``."""
        plural = "kopfpeerings" if namespace else "clusterkopfpeerings"
        try:
            return or_none(lambda: self._request("GET", custom_path(plural, namespace, name, "kopf.dev", "v1")))
        except ResourceNotServed:  # no peering CRD installed: no peering object
            return None

    def create_run(self, namespace: str, body: RunBody) -> RunBody:
        """Create a FerrisRun; ``Refused`` when the API server rejects it (its CEL rules, say)."""
        try:
            return cast(RunBody, self._request("POST", custom_path(model.RUNS, namespace), dict(body)))
        except ApiException as exc:
            if is_invalid(exc):
                raise refusal(exc) from None
            raise

    def patch_status(self, plural: str, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        """Patch the status of a Ferris object (cluster-scoped when ``namespace`` is "")."""
        with tolerating(is_not_found):
            self._call("PATCH", custom_path(plural, namespace, name) + "/status", {"status": status}, MERGE_PATCH)

    def iter_packages(self, namespaces: tuple[str, ...]) -> Iterator[PackageBody]:
        """Every FerrisPackage in ``namespaces`` (all namespaces when empty), a page at a time."""
        return cast("Iterator[PackageBody]", self.iter_custom(model.PACKAGES, namespaces))

    def iter_triggers(self, namespaces: tuple[str, ...]) -> Iterator[TriggerBody]:
        """Every FerrisTrigger in ``namespaces`` (all namespaces when empty), a page at a time."""
        return cast("Iterator[TriggerBody]", self.iter_custom(model.TRIGGERS, namespaces))

    def iter_custom(self, plural: str, namespaces: tuple[str, ...], page: int = 500) -> Iterator[dict[str, Any]]:
        """Every Ferris object of ``plural`` in ``namespaces`` (all when empty), a page at a time."""
        for namespace in namespaces or (None,):
            token: str | None = None
            while True:
                query: dict[str, Any] = {"limit": page, **({"continue": token} if token else {})}
                result = self._request("GET", custom_path(plural, namespace or ""), query=query)
                yield from result.get("items") or []
                token = (result.get("metadata") or {}).get("continue")
                if not token:
                    break

    def review(self, body: dict[str, Any]) -> dict[str, Any]:
        """A TokenReview or SubjectAccessReview, sent: the API server's answer, its status filled in."""
        return self._request("POST", REVIEWS[body["kind"]], body)

    def delete_run(self, namespace: str, name: str) -> None:
        with tolerating(is_not_found):
            self._call("DELETE", custom_path(model.RUNS, namespace, name))

    def cancel_run(self, namespace: str, name: str) -> bool:
        """``spec.cancel: true`` on the run (its other spec fields are immutable by the CRD)."""
        try:
            self._call("PATCH", custom_path(model.RUNS, namespace, name), {"spec": {"cancel": True}}, MERGE_PATCH)
        except ApiException as exc:
            if is_not_found(exc):
                return False
            raise
        return True

    # ---- core objects ----------------------------------------------------------------------
    @staticmethod
    def refusal(exc: BaseException) -> str | None:
        if isinstance(exc, Refused):  # an invalid object (422), as create_or_get raises it
            return str(exc)
        if not isinstance(exc, ApiException) or not 400 <= int(exc.status or 0) < 500 or is_conflict(exc):
            return None
        return f"{exc.status}: {api_message(exc)[:512]}"

    def create_or_get(self, obj: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        """Create ``obj``; when it exists already, return the stored one (whoever made it: the
        caller checks its owner). (object, created)"""
        kind, namespace, name = obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"]
        try:
            return self._request("POST", self._path(kind, namespace), obj), True
        except ApiException as exc:
            if is_invalid(exc):
                raise refusal(exc) from None
            if not is_conflict(exc):
                raise
        return self._request("GET", self._path(kind, namespace, name)), False

    def create_if_absent(self, obj: dict[str, Any]) -> bool:
        """Create ``obj`` unless an object of its name exists (whoever made it); True: created."""
        kind, namespace = obj["kind"], obj["metadata"]["namespace"]
        try:
            self._request("POST", self._path(kind, namespace), obj)
        except ApiException as exc:
            if is_invalid(exc):
                raise refusal(exc) from None
            if not is_conflict(exc):
                raise
            return False
        return True

    def replace_or_create(self, obj: dict[str, Any]) -> None:
        """Write ``obj`` whole, creating it when it does not exist."""
        kind, namespace, name = obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"]
        try:
            self._call("PUT", self._path(kind, namespace, name), obj)
        except ApiException as exc:
            if not is_not_found(exc):
                raise
            self._call("POST", self._path(kind, namespace), obj)

    def read(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return or_none(lambda: self._request("GET", self._path(kind, namespace, name)))

    def namespace_labels(self, namespace: str) -> dict[str, str]:
        found = or_none(lambda: self._request("GET", f"/api/v1/namespaces/{namespace}"))
        return dict(((found or {}).get("metadata") or {}).get("labels") or {})

    def delete_exact(self, kind: str, namespace: str, name: str, uid: str, body: dict[str, Any] | None = None) -> None:
        """Delete the object only if it is still the one with ``uid`` (a precondition checked by
        the API server): an object created since under the same name is left alone."""
        if kind not in DELETABLE:
            raise ValueError(f"the operator deletes no {kind} this way")
        options = {**(body or {}), "preconditions": {"uid": uid}}
        with tolerating(is_not_found, is_conflict):
            self._call("DELETE", self._path(kind, namespace, name), options)

    def replace_configmap(self, obj: dict[str, Any], uid: str) -> None:
        """Delete the ConfigMap with ``uid`` and create ``obj`` in its place."""
        namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        self.delete_exact("ConfigMap", namespace, name, uid)
        self._call("POST", self._path("ConfigMap", namespace), obj)

    def bundle_metadata(self, namespace: str, run_uids: list[str]) -> dict[str, dict[str, Any]]:
        """Name -> the object's metadata (as ``{"metadata": ...}``) of the bundle ConfigMaps of
        the runs ``run_uids`` in ``namespace`` (selected by their label, which proves nothing: the
        caller checks the stamp), read as metadata only (a bundle can be close to 1 MiB; its
        metadata is a few hundred bytes), a hundred runs a request."""
        found: dict[str, dict[str, Any]] = {}
        for first in range(0, len(run_uids), BUNDLES_PER_LIST):
            uids = ",".join(run_uids[first : first + BUNDLES_PER_LIST])
            selector = f"{model.LABEL_COMPONENT}=run-bundle,{model.LABEL_RUN_UID} in ({uids})"
            listed = self._request(
                "GET", self._path("ConfigMap", namespace), query={"labelSelector": selector}, accept=PARTIAL_METADATA
            )
            found |= {item["metadata"]["name"]: {"metadata": item["metadata"]} for item in listed.get("items") or []}
        return found

    def metadata(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        found = or_none(lambda: self._request("GET", self._path(kind, namespace, name), accept=PARTIAL_METADATA_ONE))
        return None if found is None else {"metadata": found.get("metadata") or {}}

    def content_metadata(self, namespaces: tuple[str, ...]) -> list[dict[str, Any]]:
        selector = {"labelSelector": f"{model.LABEL_COMPONENT}={model.COMPONENT_CONTENT}"}
        paths = [self._path("ConfigMap", ns) for ns in namespaces] if namespaces else ["/api/v1/configmaps"]
        found: list[dict[str, Any]] = []
        for path in paths:
            listed = self._request("GET", path, query=selector, accept=PARTIAL_METADATA)
            found += [{"metadata": item["metadata"]} for item in listed.get("items") or []]
        return found

    def annotate(self, kind: str, namespace: str, name: str, uid: str, annotations: dict[str, str]) -> bool:
        patch = {"metadata": {"uid": uid, "annotations": annotations}}  # another uid: refused, not merged
        try:
            self._call("PATCH", self._path(kind, namespace, name), patch, MERGE_PATCH)
        except ApiException as exc:
            if is_not_found(exc) or is_conflict(exc) or is_invalid(exc):
                return False
            raise
        return True

    def delete_unchanged(self, kind: str, namespace: str, name: str, uid: str, resource_version: str) -> bool:
        if kind not in DELETABLE:
            raise ValueError(f"the operator deletes no {kind} this way")
        options = {"preconditions": {"uid": uid, "resourceVersion": resource_version}}
        try:
            self._call("DELETE", self._path(kind, namespace, name), options)
        except ApiException as exc:
            if is_not_found(exc) or is_conflict(exc):
                return False
            raise
        return True

    def job_lister(self, namespace: str | None) -> Callable[..., Any]:
        """The list (and, with watch=True, watch) call of Jobs in ``namespace`` (all when None)."""
        return self._lister(self._path("Job", namespace) if namespace else "/apis/batch/v1/jobs")

    def pod_lister(self, namespace: str | None) -> Callable[..., Any]:
        return self._lister(self._path("Pod", namespace) if namespace else "/api/v1/pods")

    def run_lister(self, namespace: str | None) -> Callable[..., Any]:
        return self._lister(
            self._path("FerrisRun", namespace) if namespace else f"/apis/{model.GROUP}/{model.VERSION}/{model.RUNS}"
        )

    def list_run_pods(self, namespace: str, run_uid: str) -> list[dict[str, Any]]:
        query = {"labelSelector": f"{model.LABEL_RUN_UID}={run_uid}"}
        pods = self._request("GET", self._path("Pod", namespace), query=query)
        return list(pods.get("items") or [])

    def event(
        self, involved: Mapping[str, Any], kind: str, reason: str, message: str, event_type: str = "Warning"
    ) -> None:
        """Record an Event for a person to act on. Never include a secret value in ``message``.
        A cluster-scoped object's Events go to namespace default, as Kubernetes puts them."""
        meta = involved["metadata"]
        namespace = meta.get("namespace") or "default"
        now = model.timestamp()
        body = {
            "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:12]}", "namespace": namespace},
            "involvedObject": {
                "apiVersion": f"{model.GROUP}/{model.VERSION}",
                "kind": kind,
                "name": meta["name"],
                **({"namespace": meta["namespace"]} if meta.get("namespace") else {}),
                "uid": meta.get("uid"),
            },
            "reason": reason,
            "message": message[:1024],
            "type": event_type,
            "source": {"component": "ferris-operator"},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "reportingComponent": "ferris.io/operator",
            "reportingInstance": "ferris-operator",
        }
        try:
            self._call("POST", self._path("Event", namespace), body)
        except ApiException as exc:
            log.warning("could not record event %s on %s/%s: %s", reason, namespace, meta["name"], exc.reason)
