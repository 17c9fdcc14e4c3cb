"""The GitOps layout, applied as Argo CD or Flux would, and read by kstatus-style health rules."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import Ferris
from .test_security import assert_clean

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


FOLDERS = Path(__file__).resolve().parents[2] / "examples" / "package-folders"


def test_a_repository_of_package_folders_applies_with_kustomize_and_runs_in_the_manifests_order(
    ferris: Ferris, ns: str
) -> None:
    """examples/package-folders (what `ferris package --all --kustomize` wrote beside the files)
    built by `kubectl kustomize` and applied by a user who may write ConfigMaps and Ferris
    objects there: report runs prepare.py then report.py (a module and a CSV beside them), hello
    only its entrypoint."""
    from .actors import least_privileged, rule

    writer = least_privileged(
        ferris,
        ns,
        "gitops-writer",
        [
            rule("", "configmaps", "get", "create", "patch"),
            rule("ferris.io", "ferrispackages", "get", "create", "patch"),
            rule("ferris.io", "ferristriggers", "get", "create", "patch"),
        ],
    )
    built = ferris.kubectl("kustomize", str(FOLDERS)).stdout
    writer.kubectl("apply", "--server-side", "-f", "-", input=built)
    for name in ("report", "hello"):
        ferris.wait_condition(ns, "ferrispackage", name, "Ready")
    ferris.wait_condition(ns, "ferristrigger", "report-on-1", "Listening")
    report = ferris.wait_run(ns, ferris.create_run(ns, "report"))
    assert report["status"]["phase"] == "Succeeded", report["status"]
    assert [s["name"] for s in report["status"]["steps"]] == ["prepare.py", "report.py"]
    tail = report["status"]["steps"][1]["outputTail"]
    assert "report: prepared first: True" in tail and "report: eu 15" in tail and "report: us 7" in tail
    hello = ferris.wait_run(ns, ferris.create_run(ns, "hello"))
    assert hello["status"]["phase"] == "Succeeded" and [s["name"] for s in hello["status"]["steps"]] == ["main.py"]


def test_ferris_package_applies_a_folder_and_its_secrets_as_its_user(ferris: Ferris, ns: str, tmp_path: Path) -> None:
    """`ferris package DIR --apply` with a least-privileged user's token kubeconfig: the files as a
    ConfigMap, secrets.json as a typed Secret the operator takes in and deletes, the package
    Ready with the secret's name only; the canary is in no object and the run's output masks it."""
    import uuid

    from .actors import least_privileged, rule

    canary = "pkg-c4n4ry-" + uuid.uuid4().hex
    folder = tmp_path / "with-secrets"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"entrypoint": "main.py", "description": "uses a secret"}))
    (folder / "main.py").write_text("from ferris_ef import get_secret\nprint('token', get_secret('TOKEN'))\n")
    (folder / "secrets.json").write_text(json.dumps({"TOKEN": canary}))
    user = least_privileged(
        ferris,
        ns,
        "package-writer",
        [
            rule("", "configmaps", "get", "create", "patch"),
            rule("", "secrets", "create", "patch"),
            rule("ferris.io", "ferrispackages", "get", "create", "patch"),
        ],
    )
    applied = ferris.ferris("package", str(folder), "--apply", "-n", ns, "--kubeconfig", str(user.kubeconfig))
    assert applied.returncode == 0, applied.stderr
    assert "ferrispackage.ferris.io/with-secrets applied" in applied.stdout and canary not in applied.stdout
    ferris.wait_condition(ns, "ferrispackage", "with-secrets", "Ready")
    status = ferris.get(ns, "ferrispackage", "with-secrets")["status"]
    assert status["secrets"]["names"] == ["TOKEN"]
    deadline = time.monotonic() + 30
    while ferris.kubectl("get", "secret", "with-secrets-secrets", "-n", ns, check=False).returncode == 0:
        assert time.monotonic() < deadline, "the typed Secret was not taken in and deleted"
        time.sleep(0.5)
    run = ferris.wait_run(ns, ferris.create_run(ns, "with-secrets"))
    assert run["status"]["phase"] == "Succeeded" and "token ****" in run["status"]["steps"][0]["outputTail"]
    everything = ferris.kubectl("get", "configmaps,secrets,events,ferrispackages,ferrisruns", "-n", ns, "-o", "yaml")
    assert_clean("the namespace's objects after ferris package --apply", everything.stdout, [canary])


SHA_OF_FILES = (
    "import hashlib, os\n"
    "for name in ('logo.png', 'model.bin'):\n"
    "    if os.path.exists(name):\n"
    "        print(name, hashlib.sha256(open(name, 'rb').read()).hexdigest())\n"
)


def test_binary_and_large_files_of_a_folder_arrive_whole_by_apply_and_by_kustomize(
    ferris: Ferris, ns: str, tmp_path: Path
) -> None:
    """A folder with a binary file and one of 2 MB: `ferris package --apply` as a least-privileged
    user spreads them over ConfigMaps (the large one in parts); a folder with a binary file
    under one ConfigMap goes through `--kustomize` and `kubectl kustomize` (binaryData). The
    script prints each file's SHA-256: equal to the file's."""
    import hashlib

    from .actors import least_privileged, rule

    logo, model = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40, hashlib.shake_256(b"model").digest(2_000_000)
    applied_folder = tmp_path / "binary-apply"
    applied_folder.mkdir()
    (applied_folder / "main.py").write_text(SHA_OF_FILES)
    (applied_folder / "logo.png").write_bytes(logo)
    (applied_folder / "model.bin").write_bytes(model)
    user = least_privileged(
        ferris,
        ns,
        "binary-writer",
        [
            rule("", "configmaps", "get", "create", "patch"),
            rule("ferris.io", "ferrispackages", "get", "create", "patch"),
        ],
    )
    applied = ferris.ferris("package", str(applied_folder), "--apply", "-n", ns, "--kubeconfig", str(user.kubeconfig))
    assert applied.returncode == 0, applied.stderr
    ferris.wait_condition(ns, "ferrispackage", "binary-apply", "Ready")
    run = ferris.wait_run(ns, ferris.create_run(ns, "binary-apply"))
    assert run["status"]["phase"] == "Succeeded", run["status"]
    output = ferris.steps(run["metadata"]["uid"])[0][4]
    assert f"logo.png {hashlib.sha256(logo).hexdigest()}" in output
    assert f"model.bin {hashlib.sha256(model).hexdigest()}" in output

    kustomized = tmp_path / "binary-kustomize"
    kustomized.mkdir()
    (kustomized / "main.py").write_text(SHA_OF_FILES)
    (kustomized / "logo.png").write_bytes(logo)
    assert ferris.ferris("package", str(kustomized), "--kustomize").returncode == 0
    built = ferris.kubectl("kustomize", str(kustomized)).stdout
    assert "binaryData" in built
    user.kubectl("apply", "--server-side", "-f", "-", input=built)
    ferris.wait_condition(ns, "ferrispackage", "binary-kustomize", "Ready")
    run = ferris.wait_run(ns, ferris.create_run(ns, "binary-kustomize"))
    assert run["status"]["phase"] == "Succeeded", run["status"]
    assert f"logo.png {hashlib.sha256(logo).hexdigest()}" in ferris.steps(run["metadata"]["uid"])[0][4]
