"""Which objects are Ferris's own. An object belongs to a run only when its controller
ownerReference names that run (kind and UID) and it lives in the run's namespace; for a pod,
when its controller is a Job that belongs to the run. Labels select what to watch and list,
but anyone who may create a Job or a Secret can copy them: they are never proof. Pure."""

from __future__ import annotations

from typing import Any

from ferris_operator import model, reasons
from ferris_operator.problems import Problem


class ForeignObject(Problem):
    """An object with the name of a run's child exists and the run does not own it."""

    def __init__(self, kind: str, namespace: str, name: str) -> None:
        self.kind, self.namespace, self.name = kind, namespace, name
        super().__init__(
            reasons.FOREIGN_OBJECT,
            f"{kind} {namespace}/{name} already exists and is not owned by this run: Ferris never adopts "
            f"an object it did not create. Delete or rename that {kind}, then create a new FerrisRun",
        )


def controller_of(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The ownerReference with ``controller: true``, if any (there is at most one)."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller") is True:
            return dict(ref)
    return None


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0] if "/" in api_version else ""


def controlled_by(obj: dict[str, Any], group: str, kind: str, uid: str, namespace: str) -> bool:
    """True when ``obj`` is in ``namespace`` and its controller is the ``group``/``kind`` with ``uid``."""
    if (obj.get("metadata") or {}).get("namespace") != namespace:
        return False
    ref = controller_of(obj)
    return (
        ref is not None
        and ref.get("uid") == uid
        and ref.get("kind") == kind
        and _group(str(ref.get("apiVersion", ""))) == group
    )


def owned_by_run(obj: dict[str, Any], run_uid: str, namespace: str) -> bool:
    return controlled_by(obj, model.GROUP, "FerrisRun", run_uid, namespace)


def controlling_run_uid(obj: dict[str, Any]) -> str | None:
    """The UID of the FerrisRun named as ``obj``'s controller: a claim, to be checked against
    the run's own record (namespace, child name) before anything is done with it."""
    ref = controller_of(obj)
    if ref and ref.get("kind") == "FerrisRun" and _group(str(ref.get("apiVersion", ""))) == model.GROUP:
        uid = ref.get("uid")
        return str(uid) if uid else None
    return None


def controlling_job(pod: dict[str, Any]) -> tuple[str, str] | None:
    """(name, uid) of the Job named as the pod's controller."""
    ref = controller_of(pod)
    if ref and ref.get("kind") == "Job" and _group(str(ref.get("apiVersion", ""))) == "batch":
        return str(ref.get("name", "")), str(ref.get("uid", ""))
    return None
