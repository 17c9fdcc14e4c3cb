"""A script's ``context.secrets.set(name, value, context)``: allowed only where a scope's
``writers`` name the run's package (and, for the platform, its namespace), as the scope's object
says at that moment (policies.py); the value encrypted at once into a new version of the scope,
and every write and refusal audited (no value). The answer is the Ferris executor's
``(status, text)``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ferris_operator import model
from ferris_operator.ports import ScopeStorePort, VaultPort
from ferris_operator.problems import ScopeFull, ScopeGone
from ferris_operator.records import RunRecord
from ferris_operator.secret_scopes.policies import ScopeObjects
from ferris_operator.secret_scopes.resolve import write_target


@dataclass(frozen=True)
class WriteAnswer:
    status: int  # 200 written; 403 no policy allows it; 409 the scope went; 413 the scope is full
    text: str
    version: int | None = None


def refusal(context: str, namespace: str, package: str, has_project: bool, name: str = "", named: bool = False) -> str:
    """What the script (and the audit, and the run's Event) reads: why, and the fix. ``named``:
    a writer entry names the package, but its ``names`` leave this secret out."""
    if named:
        return (
            f"package {package} may not write secret {name} into the {context} scope: its entry in spec.writers"
            " lists the names it may write; add this one there"
        )
    if context == "project" and not has_project:
        return (
            f"namespace {namespace} has no project secrets: create a FerrisProjectSecrets named "
            f"{model.PROJECT_SECRETS_NAME} with spec.writers: [{{package: {package}}}]"
        )
    if context == "project":
        return (
            f"package {package} may not write project secrets: add {{package: {package}}} to spec.writers "
            f"of FerrisProjectSecrets {model.PROJECT_SECRETS_NAME} in namespace {namespace}"
        )
    return (
        f"package {package} of namespace {namespace} may not write platform secrets: a FerrisPlatformSecrets "
        f"must list {{namespace: {namespace}, package: {package}}} in spec.writers"
    )


MAX_WRITES_PER_RUN = 100  # writes and refusals, audited, of one run


class ScopeWriter:
    def __init__(self, store: ScopeStorePort, vault: VaultPort, objects: ScopeObjects) -> None:
        self.store = store
        self.objects = objects
        self.vault = vault

    def write(self, run: RunRecord, name: str, value: Any, context: str) -> WriteAnswer:
        who = {"uid": run.uid, "namespace": run.namespace, "name": run.name, "package": run.package_name}
        if self.store.writes_of_run(run.uid) >= MAX_WRITES_PER_RUN:
            return WriteAnswer(
                429, f"a run may write (or be refused) at most {MAX_WRITES_PER_RUN} secrets, and this one has: stop"
            )
        scopes = self.objects.confirm(self.store.around(run.namespace))  # writers as the objects say
        target = write_target(scopes, context, run.namespace, run.package_name, name)
        if target is None:
            has_project = any(scope.kind == "project" for scope in scopes)
            named = write_target(scopes, context, run.namespace, run.package_name) is not None
            text = refusal(context, run.namespace, run.package_name, has_project, name, named)
            self.store.refused(context, name, text, who)
            return WriteAnswer(403, text)
        try:
            version = self.vault.write_one(target.uid, target.label, name, value, who)
        except ScopeGone as gone:
            self.store.refused(target.label, name, str(gone), who, target.uid)
            return WriteAnswer(409, str(gone))
        except ScopeFull as full:
            self.store.refused(target.label, name, str(full), who, target.uid)
            return WriteAnswer(413, str(full))
        return WriteAnswer(200, f"secret {name} set in {target.label} (version {version})", version)
