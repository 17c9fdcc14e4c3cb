"""The GitOps layout, applied as Argo CD or Flux would, and read by kstatus-style health rules."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import Ferris

GITOPS = Path(__file__).resolve().parents[2] / "examples" / "gitops"
pytestmark = pytest.mark.cluster


def kstatus(obj: dict[str, Any]) -> str:
    """kstatus's generic rules for a custom resource, as published (the kpt "CRD Status
    Convention"): being deleted is Terminating; an observedGeneration behind the generation is
    InProgress; Reconciling=True is InProgress; Stalled=True is Failed; anything else is
    Current. Ready is not read at all."""
    meta, status = obj["metadata"], obj.get("status") or {}
    if meta.get("deletionTimestamp"):
        return "Terminating"
    if "observedGeneration" in status and status["observedGeneration"] != meta.get("generation"):
        return "InProgress"
    conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
    if conditions.get("Reconciling") == "True":
        return "InProgress"
    if conditions.get("Stalled") == "True":
        return "Failed"
    return "Current"


def wait_status(ferris: Ferris, ns: str, kind: str, name: str, wanted: str, timeout: float = 90) -> None:
    """Until kstatus reads ``wanted`` from a status the operator wrote: an object with no status
    yet reads as Current (as in kstatus itself), which says nothing about the operator."""
    deadline = time.monotonic() + timeout
    while True:
        obj = ferris.get(ns, kind, name)
        current = kstatus(obj)
        if current == wanted and "observedGeneration" in (obj.get("status") or {}):
            return
        assert time.monotonic() < deadline, f"{kind}/{name} is {current}, not {wanted}"
        time.sleep(0.3)


def test_gitops_layout_reconciles_and_reports_health(ferris: Ferris, tmp_path: Path) -> None:
    repo = tmp_path / "gitops"
    shutil.copytree(GITOPS, repo)
    sealed = ferris.ferris(
        "seal",
        "-",
        "--namespace",
        "reports",
        "--package",
        "nightly-report",
        input=json.dumps({"WAREHOUSE_URL": "postgresql://report:pw-9f8e7d@warehouse/prod"}),
    )
    (repo / "sealed.txt").write_text(sealed.stdout)
    ferris.kubectl("apply", "-k", str(repo))
    wait_status(ferris, "reports", "ferrispackage", "nightly-report", "Current")
    wait_status(ferris, "reports", "ferrisrun", "nightly-report-initial", "Current", timeout=120)
    run = ferris.get("reports", "ferrisrun", "nightly-report-initial")
    assert run["status"]["phase"] == "Succeeded"
    assert "building the report for yesterday from ****" in run["status"]["steps"][0]["outputTail"]

    # A change in Git: the package is InProgress until the operator has observed it, then Current.
    package = (repo / "package.yaml").read_text().replace("day: yesterday", "day: today")
    (repo / "package.yaml").write_text(package)
    ferris.kubectl("apply", "-k", str(repo))
    wait_status(ferris, "reports", "ferrispackage", "nightly-report", "Current")
    assert ferris.get("reports", "ferrispackage", "nightly-report")["status"]["observedGeneration"] == 2

    # A sealed text committed for the wrong package is a failure kstatus reports as such.
    wrong = ferris.ferris("seal", "-", "--namespace", "reports", "--package", "another", input='{"A": "1234"}')
    (repo / "sealed.txt").write_text(wrong.stdout)
    ferris.kubectl("apply", "-k", str(repo))
    wait_status(ferris, "reports", "ferrispackage", "nightly-report", "Failed")


def test_failed_run_reads_as_failed_and_running_as_in_progress(ferris: Ferris, ns: str) -> None:
    # Long enough for the Running status to be published on a loaded machine: under load the
    # operator may publish only the end of a run that ran for two seconds, and Running is never shown.
    ferris.package(ns, "fails", "import time\ntime.sleep(15)\nraise SystemExit(2)")
    wait_status(ferris, ns, "ferrispackage", "fails", "Current")
    run = ferris.create_run(ns, "fails")
    ferris.kubectl("wait", "-n", ns, f"ferrisrun/{run}", "--for=jsonpath={.status.phase}=Running", "--timeout=60s")
    assert kstatus(ferris.get(ns, "ferrisrun", run)) == "InProgress"
    wait_status(ferris, ns, "ferrisrun", run, "Failed")


def test_a_package_waiting_for_its_secret_reads_as_in_progress_then_current(ferris: Ferris, ns: str) -> None:
    ferris.package(ns, "waits", "print('x')", secretsFrom={"secretName": "not-yet"})
    ferris.wait_condition(ns, "ferrispackage", "waits", "SecretSourceNotFound")
    assert kstatus(ferris.get(ns, "ferrispackage", "waits")) == "InProgress"  # it heals by itself
    ferris.secret(ns, "not-yet", '{"A": "value-1"}')
    wait_status(ferris, ns, "ferrispackage", "waits", "Current")
