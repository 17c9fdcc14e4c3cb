"""Which objects are Ferris's own: the one check every kind uses before it trusts an object it
finds under a name it meant to use.

Names, labels and ownerReferences are written by whoever creates an object; the API server
checks none of them, so none of them proves anything. What proves that Ferris made an object is
its *stamp*: an annotation holding an HMAC (under a key derived from the operator's run-token
service key, which only the operator and the server can unwrap) over the object's kind,
namespace and name, what it was made for, and, where the object carries secret material, a
digest of that material. An object of a run's child's name is the run's only when its
controller ownerReference names the run (Kubernetes' garbage collection needs it) *and* it
carries the stamp for exactly that run; for a pod, when its controller is such a Job (by uid).
Pure: no I/O."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from ferris_operator import model, reasons
from ferris_operator.bodies import RunBody
from ferris_operator.crypto.run_tokens import RunTokens
from ferris_operator.problems import Problem

ANNOTATION_STAMP = model.ANNOTATION_STAMP


class ForeignObject(Problem):
    """An object with the name of a run's child exists and Ferris cannot prove it made it."""

    def __init__(self, kind: str, namespace: str, name: str) -> None:
        self.kind, self.namespace, self.name = kind, namespace, name
        super().__init__(
            reasons.FOREIGN_OBJECT,
            f"{kind} {namespace}/{name} already exists and is not owned by this run (it carries no stamp of "
            f"the operator's for this run: an ownerReference proves nothing): Ferris never adopts an object "
            f"it did not create, and sealed nothing. Delete or rename that {kind}, then create a new FerrisRun",
        )


class Provenance:
    """Stamps what the operator makes and recognises only what it stamped."""

    def __init__(self, tokens: RunTokens) -> None:
        self._tokens = tokens

    @staticmethod
    def _parts(kind: str, namespace: str, name: str, purpose: tuple[str, ...]) -> tuple[str, ...]:
        return ("object", kind, namespace, name, *purpose)

    def stamp(self, obj: dict[str, Any], kind: str, *purpose: str) -> dict[str, Any]:
        """``obj`` with the operator's stamp for ``purpose`` added to its annotations (in place)."""
        obj["metadata"]["annotations"] = self._stamped(obj["metadata"], kind, purpose)
        return obj

    def _stamped(self, meta: Mapping[str, Any], kind: str, purpose: tuple[str, ...]) -> dict[str, str]:
        """``meta``'s annotations with the operator's stamp for ``purpose`` added."""
        stamp = self._tokens.stamp(*self._parts(kind, str(meta["namespace"]), str(meta["name"]), purpose))
        return {**(meta.get("annotations") or {}), ANNOTATION_STAMP: stamp}

    def made(self, obj: Mapping[str, Any], kind: str, *purpose: str) -> bool:
        """True when ``obj`` carries the operator's stamp for its own kind, namespace and name
        and exactly ``purpose``."""
        meta = obj.get("metadata") or {}
        stamp = str((meta.get("annotations") or {}).get(ANNOTATION_STAMP) or "")
        parts = self._parts(kind, str(meta.get("namespace") or ""), str(meta.get("name") or ""), purpose)
        return bool(stamp) and self._tokens.stamped(stamp, *parts)

    def content_salt(self, package_uid: str) -> str:
        """What a package's content object names are derived from beside their content: an HMAC
        under the active stamp key, so no one else can know a name before the object exists,
        and another key (another installation) makes other names rather than meet objects it
        cannot prove it made."""
        return self._tokens.stamp("content-name", package_uid)

    def stamp_child(self, obj: dict[str, Any], kind: str, run_uid: str, *content: str) -> dict[str, Any]:
        return self.stamp(obj, kind, "child-of", run_uid, *content)

    def is_child(self, obj: Mapping[str, Any], kind: str, run_uid: str, namespace: str, *content: str) -> bool:
        """``obj`` is the run's child: in the run's namespace, controlled by the run, and stamped
        by the operator for that run (and ``content``, where the stamp binds it)."""
        return owned_by_run(obj, run_uid, namespace) and self.made(obj, kind, "child-of", run_uid, *content)

    def own(self, obj: Mapping[str, Any], kind: str, run_uid: str, namespace: str, *content: str) -> None:
        """Raise ForeignObject unless ``obj`` is the run's child."""
        if not self.is_child(obj, kind, run_uid, namespace, *content):
            raise ForeignObject(kind, namespace, str(obj["metadata"]["name"]))

    def stamp_run(self, manifest: RunBody) -> RunBody:
        """A FerrisRun the operator's schedules or triggers make, stamped for what it is made for."""
        meta = manifest["metadata"]
        meta["annotations"] = self._stamped(meta, "FerrisRun", made_run_purpose(manifest))
        return manifest

    def made_run(self, body: Mapping[str, Any]) -> bool:
        return self.made(body, "FerrisRun", *made_run_purpose(body))

    def proven_trigger(self, body: Mapping[str, Any]) -> str | None:
        """The run's ``spec.trigger`` where Ferris can vouch for it: Manual and Retry as written
        (anyone may start a run; a retry is known by its request, see runs/retries.py), Schedule
        and Event only on a run the operator stamped; None for a run that claims one of those
        two without the stamp."""
        trigger = str((body.get("spec") or {}).get("trigger") or model.TRIGGER_MANUAL)
        if trigger in OPERATOR_TRIGGERS and not self.made_run(body):
            return None
        return trigger


OPERATOR_TRIGGERS = (model.TRIGGER_SCHEDULE, model.TRIGGER_EVENT)  # set only on runs the operator makes


def made_run_purpose(body: Mapping[str, Any]) -> tuple[str, ...]:
    """What the stamp of a run made by a schedule or a trigger binds besides its namespace and
    name: its trigger, package, scheduled time, event and chain depth. Pure."""
    spec, annotations = body.get("spec") or {}, (body.get("metadata") or {}).get("annotations") or {}
    return (
        "made-run",
        str(spec.get("trigger") or ""),
        str((spec.get("packageRef") or {}).get("name") or ""),
        str(spec.get("scheduledTime") or ""),
        str(annotations.get(model.ANNOTATION_EVENT) or ""),
        str(annotations.get(model.ANNOTATION_CHAIN_DEPTH) or ""),
    )


def digest(value: Any) -> str:
    """A stable SHA-256 of a JSON-able value (keys sorted), for a stamp to bind content. Pure."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def controller_of(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ownerReference with ``controller: true``, if any (there is at most one)."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller") is True:
            return dict(ref)
    return None


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0] if "/" in api_version else ""


def controlled_by(obj: Mapping[str, Any], group: str, kind: str, uid: str, namespace: str) -> bool:
    """True when ``obj`` is in ``namespace`` and its controller is the ``group``/``kind`` with
    ``uid``: a claim its creator made, necessary for a run's child, never sufficient."""
    if (obj.get("metadata") or {}).get("namespace") != namespace:
        return False
    ref = controller_of(obj)
    return (
        ref is not None
        and ref.get("uid") == uid
        and ref.get("kind") == kind
        and _group(str(ref.get("apiVersion", ""))) == group
    )


def owned_by_run(obj: Mapping[str, Any], run_uid: str, namespace: str) -> bool:
    """The claim half of ``Provenance.is_child``: the controller ownerReference names the run."""
    return controlled_by(obj, model.GROUP, "FerrisRun", run_uid, namespace)


def controlling_run_uid(obj: dict[str, Any]) -> str | None:
    """The UID of the FerrisRun named as ``obj``'s controller: a claim, to be checked against
    the run's own record and the object's stamp before anything is done with it."""
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
