"""What the history API answers, as JSON-ready dicts: a run, its steps, a package. Pure. A
package's view names its secrets and never holds a value (the status it reads holds none)."""

from __future__ import annotations

import base64
import datetime
import json
from collections.abc import Mapping
from typing import Any

from ferris_operator import model
from ferris_operator.bodies import PackageBody, Schedule, ScheduleStatus
from ferris_operator.problems import Problem
from ferris_operator.records import Cursor, EventRecord, RunRecord, SecretWrite, StepSummary
from ferris_operator.schedules.spec import schedule_of, upcoming


def _time(moment: datetime.datetime | None) -> str | None:
    return model.timestamp(moment) if moment else None


def run(record: RunRecord) -> dict[str, Any]:
    return {
        "namespace": record.namespace,
        "name": record.name,
        "uid": record.uid,
        "package": record.package_name,
        "trigger": record.trigger,
        "phase": record.phase,
        "reason": record.reason,
        "message": record.message,
        "packageGeneration": record.package_generation,
        "secretsVersion": record.secrets_version,
        "createdAt": _time(record.created_at),
        "startedAt": _time(record.started_at),
        "finishedAt": _time(record.finished_at),
        "params": record.params,
        "secretSources": (record.secret_sources or {}).get("sources") or {},
        "scopeVersions": (record.secret_sources or {}).get("versions") or {},
        "attempt": record.attempt,
        "maxAttempts": record.max_attempts,
        "retryOf": record.retry_of,
    }


def run_with_steps(record: RunRecord, steps: list[StepSummary]) -> dict[str, Any]:
    return {
        **run(record),
        "steps": [
            {
                "index": s.step.idx,
                "name": s.step.name,
                "phase": s.step.phase,
                "exitCode": s.step.exit_code,
                "startedAt": _time(s.step.started_at),
                "finishedAt": _time(s.step.finished_at),
                "outputBytes": s.output_bytes,
            }
            for s in steps
        ],
    }


def package(body: PackageBody) -> dict[str, Any]:
    meta, spec, status = body["metadata"], body.get("spec") or {}, body.get("status") or {}
    ready: Mapping[str, Any] = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    secrets = status.get("secrets") or {}
    return {
        "namespace": meta["namespace"],
        "name": meta["name"],
        "ready": ready.get("status") == "True",
        "reason": ready.get("reason"),
        "message": ready.get("message"),
        "scripts": [s.get("name") for s in spec.get("scripts") or []],
        "params": spec.get("params") or {},
        "paramsSchema": spec.get("paramsSchema"),
        "allowRerunFromStep": bool(spec.get("allowRerunFromStep")),
        "secretsSource": "secretsFrom"
        if spec.get("secretsFrom")
        else "sealedSecrets"
        if spec.get("sealedSecrets")
        else None,
        "secrets": {
            "names": list(secrets.get("names") or []),
            "count": secrets.get("count", 0),
            "version": secrets.get("version", 0),
        },
        "lastRun": status.get("lastRun"),
        "schedule": _schedule(spec.get("schedule"), status.get("schedule") or {}),
    }


NEXT_TIMES = 5


def package_detail(body: PackageBody, now: datetime.datetime) -> dict[str, Any]:
    """One package for its page: the summary, each script's source (inline text; a ConfigMap's
    is named, not read: the server does not read users' ConfigMaps) and which scripts run as
    steps, its description, and when its next scheduled runs start."""
    spec = body.get("spec") or {}
    summary = package(body)
    steps = set(model.steps_of(spec))
    summary["description"] = spec.get("description")
    summary["scriptSources"] = [
        {
            "name": s["name"],
            "step": s["name"] in steps,
            "content": s.get("content"),
            "configMap": dict(s["configMapRef"]) if s.get("configMapRef") else None,
            "configMapParts": [dict(ref) for ref in s.get("configMapRefs") or []],
        }
        for s in spec.get("scripts") or []
    ]
    if summary["schedule"] is not None:
        try:
            planned = schedule_of(spec)
        except Problem:
            planned = None  # the package's status says why
        meta = body["metadata"]
        times = upcoming(planned, meta["namespace"], meta["name"], now, NEXT_TIMES) if planned else []
        summary["schedule"]["nextTimes"] = [model.timestamp(t) for t in times]
    return summary


def _schedule(schedule: Schedule | None, shown: ScheduleStatus) -> dict[str, Any] | None:
    if not schedule:
        return None
    return {
        "crons": list(schedule.get("crons") or []),
        "timeZone": schedule.get("timeZone") or "UTC",
        "suspend": bool(schedule.get("suspend")),
        "nextScheduleTime": shown.get("nextScheduleTime"),
        "lastScheduledRun": shown.get("lastScheduledRun"),
        "missedCount": shown.get("missedCount", 0),
        "skip": sorted(schedule.get("skip") or []),
        "offsetSeconds": shown.get("offsetSeconds", 0),
    }


def cursor_token(cursor: Cursor | None) -> str | None:
    if cursor is None:
        return None
    fields: dict[str, Any] = {"t": cursor.created_at.isoformat(), "u": cursor.uid}
    if cursor.oldest_first:
        fields["o"] = 1
    raw = json.dumps(fields, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def parse_cursor(token: str) -> Cursor:
    """The cursor a ``continue`` token carries; ValueError when it is not one this server made."""
    if len(token) > 512:
        raise ValueError("continue token too long")
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    data = json.loads(raw)
    if not isinstance(data, dict) or not isinstance(data.get("u"), str) or not isinstance(data.get("t"), str):
        raise ValueError("not a continue token")
    moment = datetime.datetime.fromisoformat(data["t"])
    if moment.tzinfo is None:
        raise ValueError("not a continue token")
    return Cursor(moment, data["u"], data.get("o") == 1)


def event(record: EventRecord, with_data: bool) -> dict[str, Any]:
    """An event and what routing it did (``routed: false`` while the operator has not)."""
    outcome = record.outcome or {}
    found = record.event
    view: dict[str, Any] = {
        "seq": record.seq,
        "namespace": found.namespace,
        "id": found.id,
        "type": found.type,
        "source": found.source,
        "subject": found.subject,
        "depth": found.depth,
        "sentBy": record.sent_by,
        "receivedAt": _time(record.received_at),
        "routedAt": _time(record.routed_at),
        "routed": record.routed_at is not None,
        "triggers": outcome.get("triggers") or [],
        "runs": outcome.get("runs") or [],
        "refused": outcome.get("refused") or [],
    }
    if found.also_type:
        view["alsoType"] = found.also_type
    if with_data:
        view["data"] = found.data
    return view


def secret_write(write: SecretWrite) -> dict[str, Any]:
    """A script's write into a secret scope, or its refusal: names only."""
    return {
        "seq": write.seq,
        "at": _time(write.at),
        "scope": write.scope,
        "name": write.name,
        "version": write.version,
        "outcome": write.outcome,
        "message": write.message,
        "run": write.run_name,
        "package": write.package_name,
    }
