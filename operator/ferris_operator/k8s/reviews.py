"""TokenReview and SubjectAccessReview: the API server says who a token is, and whether a user
may do something. The server asks these for every user; it never acts on its own rights
without one."""

from __future__ import annotations

import json
from typing import Any

from kubernetes import client

from ferris_operator.ports import Access, User


class Reviews:
    def __init__(self, api: client.ApiClient, audiences: tuple[str, ...] = ()) -> None:
        self.authentication = client.AuthenticationV1Api(api)
        self.authorization = client.AuthorizationV1Api(api)
        self.audiences = list(audiences)

    def token(self, token: str) -> User | None:
        spec: dict[str, Any] = {"token": token}
        if self.audiences:
            spec["audiences"] = self.audiences
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec}
        create: Any = self.authentication.create_token_review  # a plain body, a plain answer
        response = create(body, _preload_content=False)
        status = json.loads(response.data).get("status") or {}
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
        create: Any = self.authorization.create_subject_access_review
        response = create(body, _preload_content=False)
        return bool((json.loads(response.data).get("status") or {}).get("allowed"))
