"""The operator's Kubernetes adapter: every API call the handlers and services make."""

from __future__ import annotations

import functools
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from ferris_operator import model, ownership
from ferris_operator.k8s.errors import (
    ResourceNotServed,
    is_conflict,
    is_invalid,
    is_not_found,
    or_none,
    refusal,
    tolerating,
)
from ferris_operator.ports import Refused

__all__ = ["Kube", "Refused"]

log = logging.getLogger("ferris.k8s")


# Where each kind of run child lives: the collection path of a namespace.
COLLECTIONS = {
    "Secret": "/api/v1/namespaces/{namespace}/secrets",
    "ConfigMap": "/api/v1/namespaces/{namespace}/configmaps",
    "Job": "/apis/batch/v1/namespaces/{namespace}/jobs",
    # Scheduled runs: made under a name of their own, found again when made twice.
    "FerrisRun": f"/apis/{model.GROUP}/{model.VERSION}/namespaces/{{namespace}}/{model.RUNS}",
}
DELETABLE = frozenset({"Secret", "ConfigMap", "Job"})
MERGE_PATCH = "application/merge-patch+json"


class Kube:
    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self.core = client.CoreV1Api(api)
        self.batch = client.BatchV1Api(api)
        self.custom = client.CustomObjectsApi(api)

    @staticmethod
    def _call(method: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Call a typed API method and return the response as plain JSON. Skipping the client's
        model classes halves the CPU cost of a call (measured: it was most of the operator's
        time per run)."""
        response = method(*args, _preload_content=False, **kwargs)
        result: dict[str, Any] = json.loads(response.data)
        return result

    def _request(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> dict[str, Any]:
        """One request with a plain JSON body and answer, for the calls every run makes. The
        typed methods validate and convert a body into the client's models and back (a Job's
        took a tenth of the operator's time in a burst); the API server validates it anyway."""
        headers = {"Accept": "application/json", **({"Content-Type": content_type} if body is not None else {})}
        verb, url, headers, body, _ = self.api.param_serialize(
            method=method, resource_path=path, header_params=headers, body=body, auth_settings=["BearerToken"]
        )
        response = self.api.call_api(verb, url, header_params=headers, body=body)
        data = response.read() or b""
        if not 200 <= response.status <= 299:
            raise ApiException.from_response(http_resp=response, body=data.decode(errors="replace"), data=None)
        result: dict[str, Any] = json.loads(data)
        return result

    @staticmethod
    def _path(kind: str, namespace: str, name: str | None = None) -> str:
        collection = COLLECTIONS[kind].format(namespace=namespace)
        return collection if name is None else f"{collection}/{name}"

    # ---- custom resources ------------------------------------------------------------------
    def get_package(self, namespace: str, name: str) -> dict[str, Any] | None:
        obj: Any = or_none(
            lambda: self.custom.get_namespaced_custom_object(
                model.GROUP, model.VERSION, namespace, model.PACKAGES, name
            )
        )
        return None if obj is None else dict(obj)

    def get_event_source(self, namespace: str, name: str) -> dict[str, Any] | None:
        obj: Any = or_none(
            lambda: self.custom.get_namespaced_custom_object(
                model.GROUP, model.VERSION, namespace, model.EVENT_SOURCES, name
            )
        )
        return None if obj is None else dict(obj)

    def get_custom(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        if namespace:
            return or_none(
                lambda: self._call(
                    self.custom.get_namespaced_custom_object, model.GROUP, model.VERSION, namespace, plural, name
                )
            )
        return or_none(
            lambda: self._call(self.custom.get_cluster_custom_object, model.GROUP, model.VERSION, plural, name)
        )

    def peering(self, name: str, namespace: str = "") -> dict[str, Any] | None:
        """kopf's peering object: cluster-wide, or in ``namespace``."""
        call: tuple[Any, ...] = (
            (self.custom.get_namespaced_custom_object, "kopf.dev", "v1", namespace, "kopfpeerings", name)
            if namespace
            else (self.custom.get_cluster_custom_object, "kopf.dev", "v1", "clusterkopfpeerings", name)
        )
        try:
            obj = or_none(lambda: self._call(*call))
        except ResourceNotServed:  # no peering CRD installed: no peering object
            return None
        return None if obj is None else dict(obj)

    def create_run(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create a FerrisRun; ``Refused`` when the API server rejects it (its CEL rules, say)."""
        try:
            return self._call(
                self.custom.create_namespaced_custom_object, model.GROUP, model.VERSION, namespace, model.RUNS, body
            )
        except ApiException as exc:
            if is_invalid(exc):
                raise refusal(exc) from None
            raise

    def patch_status(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        """Patch the status of a Ferris object (cluster-scoped when ``namespace`` is "")."""
        where = f"namespaces/{namespace}/" if namespace else ""
        path = f"/apis/{model.GROUP}/{model.VERSION}/{where}{plural}/{name}/status"
        with tolerating(is_not_found):
            self._request("PATCH", path, {"status": status}, MERGE_PATCH)

    def iter_packages(self, namespaces: tuple[str, ...]) -> Iterator[dict[str, Any]]:
        """Every FerrisPackage in ``namespaces`` (all namespaces when empty), a page at a time."""
        return self.iter_custom(model.PACKAGES, namespaces)

    def iter_triggers(self, namespaces: tuple[str, ...]) -> Iterator[dict[str, Any]]:
        """Every FerrisTrigger in ``namespaces`` (all namespaces when empty), a page at a time."""
        return self.iter_custom(model.TRIGGERS, namespaces)

    def iter_custom(self, plural: str, namespaces: tuple[str, ...], page: int = 500) -> Iterator[dict[str, Any]]:
        """Every Ferris object of ``plural`` in ``namespaces`` (all when empty), a page at a time."""
        for namespace in namespaces or (None,):
            token: str | None = None
            while True:
                kwargs: dict[str, Any] = {"limit": page, **({"_continue": token} if token else {})}
                if namespace is None:
                    result: Any = self.custom.list_cluster_custom_object(model.GROUP, model.VERSION, plural, **kwargs)
                else:
                    result = self.custom.list_namespaced_custom_object(
                        model.GROUP, model.VERSION, namespace, plural, **kwargs
                    )
                yield from result.get("items") or []
                token = (result.get("metadata") or {}).get("continue")
                if not token:
                    break

    def delete_run(self, namespace: str, name: str) -> None:
        with tolerating(is_not_found):
            self.custom.delete_namespaced_custom_object(model.GROUP, model.VERSION, namespace, model.RUNS, name)

    # ---- core objects ----------------------------------------------------------------------
    def create_or_get(self, obj: dict[str, Any]) -> tuple[dict[str, Any], bool]:
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

    def read(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return or_none(lambda: self._request("GET", self._path(kind, namespace, name)))

    def namespace_labels(self, namespace: str) -> dict[str, str]:
        found = or_none(lambda: self._call(self.core.read_namespace, namespace))
        return dict(((found or {}).get("metadata") or {}).get("labels") or {})

    def delete_exact(self, kind: str, namespace: str, name: str, uid: str, body: dict[str, Any] | None = None) -> None:
        """Delete the object only if it is still the one with ``uid`` (a precondition checked by
        the API server): an object created since under the same name is left alone."""
        if kind not in DELETABLE:
            raise ValueError(f"the operator deletes no {kind} this way")
        options = {**(body or {}), "preconditions": {"uid": uid}}
        with tolerating(is_not_found, is_conflict):
            self._request("DELETE", self._path(kind, namespace, name), options)

    def replace_configmap(self, obj: dict[str, Any], uid: str) -> None:
        """Delete the ConfigMap with ``uid`` and create ``obj`` in its place."""
        namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        self.delete_exact("ConfigMap", namespace, name, uid)
        self._request("POST", self._path("ConfigMap", namespace), obj)

    def bundle_owners(self, namespace: str) -> dict[str, str | None]:
        """Name -> controlling run UID of the run bundle ConfigMaps in ``namespace``, read as
        metadata only (a bundle can be close to 1 MiB; its metadata is a few hundred bytes)."""
        found = self._call(
            self.core.list_namespaced_config_map,
            namespace,
            label_selector=f"{model.LABEL_COMPONENT}=run-bundle",
            _headers={"Accept": "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"},
        )
        items = found.get("items") or []
        return {item["metadata"]["name"]: ownership.controlling_run_uid(item) for item in items}

    def job_lister(self, namespace: str | None) -> Callable[..., Any]:
        """The list (and, with watch=True, watch) call of Jobs in ``namespace`` (all when None)."""
        if namespace is None:
            return self.batch.list_job_for_all_namespaces
        return functools.partial(self.batch.list_namespaced_job, namespace)

    def pod_lister(self, namespace: str | None) -> Callable[..., Any]:
        if namespace is None:
            return self.core.list_pod_for_all_namespaces
        return functools.partial(self.core.list_namespaced_pod, namespace)

    def list_run_pods(self, namespace: str, run_uid: str) -> list[dict[str, Any]]:
        pods = self._call(self.core.list_namespaced_pod, namespace, label_selector=f"{model.LABEL_RUN_UID}={run_uid}")
        return list(pods.get("items") or [])

    def event(
        self, involved: dict[str, Any], kind: str, reason: str, message: str, event_type: str = "Warning"
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
            self._call(self.core.create_namespaced_event, namespace, body)
        except ApiException as exc:
            log.warning("could not record event %s on %s/%s: %s", reason, namespace, meta["name"], exc.reason)
