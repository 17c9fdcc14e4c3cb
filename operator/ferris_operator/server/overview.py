"""The console's first screen, decided: which namespaces to ask the user's access about (those
they named or belong to first, then every namespace holding a FerrisPackage, by name), and what
the answer says of the ones they may read: counts by phase, running and queued runs, failures of
the last day, the next scheduled runs. Pure: the API (``overview_api.py``) asks the cluster and
the history, this puts the answer together. A namespace the user may not read is never named."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ferris_operator import model
from ferris_operator.bodies import PackageBody
from ferris_operator.records import Overview, User
from ferris_operator.server import views

SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True)
class Readable:
    """What the user may read in one namespace: its runs (``list ferrisruns``), its packages
    (``list ferrispackages``)."""

    namespace: str
    runs: bool
    packages: bool


def own_namespace(user: User) -> str | None:
    """A ServiceAccount's own namespace (``system:serviceaccount:NS:NAME``), else None."""
    if not user.name.startswith(SERVICE_ACCOUNT_PREFIX):
        return None
    namespace, _, name = user.name.removeprefix(SERVICE_ACCOUNT_PREFIX).partition(":")
    return namespace if namespace and name else None


def candidates(with_packages: Iterable[str], preferred: Sequence[str]) -> list[str]:
    """The namespaces to ask about, in order: ``preferred`` first (named by the user, or their
    own), then every namespace holding a package, by name; each once."""
    order = list(dict.fromkeys(preferred))
    chosen = set(order)
    order += sorted(set(with_packages) - chosen)
    return order


def scheduled(packages: Iterable[PackageBody], most: int) -> list[dict[str, Any]]:
    """The next ``most`` scheduled runs of ``packages``, soonest first (suspended ones left out)."""
    found = []
    for package in packages:
        schedule = (package.get("spec") or {}).get("schedule")
        at = ((package.get("status") or {}).get("schedule") or {}).get("nextScheduleTime")
        if schedule and not schedule.get("suspend") and at:
            found.append(
                {"namespace": package["metadata"]["namespace"], "package": package["metadata"]["name"], "at": at}
            )
    return sorted(found, key=lambda s: (s["at"], s["namespace"], s["package"]))[:most]


def summary(
    readable: Sequence[Readable],
    packages: Mapping[str, Sequence[PackageBody]],
    facts: Overview,
    since: datetime.datetime,
    unchecked: tuple[int, int | None],
    most: int,
) -> dict[str, Any]:
    """The answer: one entry per readable namespace (what it may not read is null), the runs
    going on and failed since ``since``, the next scheduled runs, and how many namespaces were
    left unasked with where to ask on (``unchecked``: a count, and the ``from`` that asks on)."""
    namespaces = []
    for entry in readable:
        counts = facts.counts.get(entry.namespace, {}) if entry.runs else None
        namespaces.append(
            {
                "name": entry.namespace,
                "packages": len(packages.get(entry.namespace, ())) if entry.packages else None,
                **{
                    key: (counts.get(phase, 0) if counts is not None else None)
                    for key, phase in (
                        ("running", model.RUNNING),
                        ("queued", model.PENDING),
                        ("failed", model.FAILED),
                        ("succeeded", model.SUCCEEDED),
                        ("cancelled", model.CANCELLED),
                    )
                },
            }
        )
    shown = [p for entry in readable if entry.packages for p in packages.get(entry.namespace, ())]
    return {
        "since": model.timestamp(since),
        "namespaces": namespaces,
        "running": [views.run(r) for r in facts.active if r.phase != model.PENDING],
        "queued": [views.run(r) for r in facts.active if r.phase == model.PENDING],
        "failed": [views.run(r) for r in facts.failed],
        "scheduled": scheduled(shown, most),
        "unchecked": unchecked[0],
        "next": unchecked[1],
    }
