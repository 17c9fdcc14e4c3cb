"""TokenReview and SubjectAccessReview: the API server says who a token is, and whether a user
may do something. The server asks these for every user; it never acts on its own rights
without one."""

from __future__ import annotations

from typing import Any, Protocol

from ferris_operator.records import Access, User


class Reviewer(Protocol):
    def review(self, body: dict[str, Any]) -> dict[str, Any]: ...


class Reviews:
    def __init__(self, kube: Reviewer, audiences: tuple[str, ...] = ()) -> None:
        self.kube = kube  # k8s/objects.py's Kube: plain JSON requests, with its timeouts
        self.audiences = list(audiences)

    def token(self, token: str) -> User | None:
        spec: dict[str, Any] = {"token": token}
        if self.audiences:
            spec["audiences"] = self.audiences
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec}
        status = self.kube.review(body).get("status") or {}
        if not status.get("authenticated"):
            return None
        info = status.get("user") or {}
        extra = {key: tuple(values) for key, values in (info.get("extra") or {}).items()}
        return User(str(info.get("username", "")), str(info.get("uid", "")), tuple(info.get("groups") or ()), extra)

    def access(self, user: User, access: Access, namespace: str, name: str) -> bool:
        attributes = {
            "namespace": namespace,
            "verb": access.verb,
            "group": access.group,
            "resource": access.resource,
            "subresource": access.subresource,
            "name": name,
        }
        spec = {
            "user": user.name,
            "uid": user.uid,
            "groups": list(user.groups),
            "extra": {key: list(values) for key, values in user.extra.items()},
            "resourceAttributes": attributes,
        }
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}
        return bool((self.kube.review(body).get("status") or {}).get("allowed"))
