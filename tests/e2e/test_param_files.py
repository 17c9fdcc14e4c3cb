"""A file param: a 2 MiB CSV uploaded with `ferris run -p data=@rows.csv` by a ServiceAccount
that may read packages and create runs (a token kubeconfig) reaches the script at the path its
param holds, whole; a viewer sees its name and size and nothing of it; its content (a canary)
is on no other surface; a file over maxBytes or of a kind the form does not accept is refused
naming the limit; a FerrisRun made with kubectl that claims a file fails ParamFileMissing."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import psycopg
import pytest

from .actors import least_privileged, rule, run_starter
from .conftest import Ferris
from .test_security import assert_clean, every_object_as_yaml
from .test_tenant_walls import reason_of

pytestmark = pytest.mark.cluster

MiB = 1024 * 1024
SCRIPT = (
    "import hashlib, os\nfrom ferris_ef import get_param\npath = get_param('data')\n"
    "print('inside the work dir', os.path.realpath(path).startswith(os.path.realpath(os.getcwd())))\n"
    "print('name', os.path.basename(path), 'region', get_param('region'))\n"
    "print('digest', hashlib.sha256(open(path, 'rb').read()).hexdigest())\n"
)


def test_a_file_param_reaches_the_script_whole_and_no_other_surface(ferris: Ferris, ns: str, tmp_path: Path) -> None:
    canary = "f1le-c4n4ry-" + uuid.uuid4().hex
    schema = {
        "required": ["data"],
        "properties": {
            "data": {"type": "file", "maxBytes": 3 * MiB, "accept": [".csv"]},
            "region": {"type": "string", "default": "eu"},
        },
    }
    ferris.package(ns, "with-a-file", SCRIPT, paramsSchema=schema)
    ferris.wait_condition(ns, "ferrispackage", "with-a-file", "Ready")
    rows = tmp_path / "rows.csv"
    line = b"1,alpha,2026-12-07,42.5\n"
    rows.write_bytes(b"id,name,day,amount\n" + canary.encode() + b"\n" + line * (2 * MiB // len(line)))
    starter = run_starter(ferris, ns)
    started = ferris.ferris(
        "run", "with-a-file", "-n", ns, "-p", f"data=@{rows}", "-p", "region=us",
        "--kubeconfig", str(starter.kubeconfig),
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    name = started.stdout.split()[0].split("/")[-1]
    assert ferris.wait_run(ns, name)["status"]["phase"] == "Succeeded"
    run = ferris.get(ns, "ferrisrun", name)
    size = rows.stat().st_size
    assert run["spec"]["params"] == {"data": {"file": "rows.csv", "bytes": size}, "region": "us"}
    output = ferris.steps(run["metadata"]["uid"])[0][4]
    assert "inside the work dir True" in output and "name rows.csv region us" in output, output
    assert f"digest {hashlib.sha256(rows.read_bytes()).hexdigest()}" in output  # whole, byte for byte

    reads = [rule("ferris.io", "ferrisruns", "get", "list"), rule("ferris.io", "ferrisruns/log", "get")]
    viewer = least_privileged(ferris, ns, "viewer", reads)
    shown = ferris.ferris("results", name, "-n", ns, "--kubeconfig", str(viewer.kubeconfig))
    assert shown.returncode == 0 and f'"data": {{"bytes": {size}, "file": "rows.csv"}}' in shown.stdout, shown.stdout
    canaries = [canary]
    assert_clean("ferris results as a viewer", shown.stdout, canaries)
    assert_clean("cluster objects (every listable kind, Events included)", every_object_as_yaml(ferris), canaries)
    assert_clean("the operator's log", ferris.operator_log(), canaries)
    assert_clean("runner pod logs", ferris.node_logs(), canaries)
    for log in Path(ferris.stack.cluster.logs).glob("*.log"):  # the server's among them
        assert_clean(f"log {log.name}", log.read_text(errors="replace"), canaries)
    for path in Path(ferris.stack.cluster.directory, "etcd").rglob("*"):
        if path.is_file():
            assert_clean(f"etcd data {path.name}", path.read_bytes().decode("latin-1"), canaries)
    assert_clean("pg_dump", ferris.pg_dump(), canaries)
    with psycopg.connect(ferris.stack.postgres.url) as conn:  # kept, encrypted, until the run's history goes
        kept = conn.execute(
            "SELECT name, bytes FROM run_param_files WHERE run_uid = %s", (run["metadata"]["uid"],)
        ).fetchall()
    assert kept == [("rows.csv", size)]

    big, wrong = tmp_path / "big.csv", tmp_path / "rows.xlsx"
    big.write_bytes(b"x" * (3 * MiB + 1))
    wrong.write_bytes(b"PK")
    for path, says in (
        (big, f"the file is {3 * MiB + 1} bytes, over its maxBytes of {3 * MiB}"),
        (wrong, "'rows.xlsx' is not one of .csv"),
    ):
        refused = ferris.ferris(
            "run", "with-a-file", "-n", ns, "-p", f"data=@{path}", "--kubeconfig", str(starter.kubeconfig)
        )
        assert refused.returncode != 0 and says in refused.stderr, refused.stderr
    listed = ferris.kubectl("get", "ferrisruns", "-n", ns, "-o", "name").stdout.split()
    assert listed == [f"ferrisrun.ferris.io/{name}"]  # nothing made for a refusal

    claimed = {"data": {"file": "rows.csv", "bytes": size}}  # what the first run holds, claimed with kubectl
    starter.create(
        {
            "apiVersion": "ferris.io/v1alpha1",
            "kind": "FerrisRun",
            "metadata": {"name": "claims-a-file", "namespace": ns},
            "spec": {"packageRef": {"name": "with-a-file"}, "params": claimed},
        }
    )
    failed = ferris.wait_run(ns, "claims-a-file")
    assert (failed["status"]["phase"], reason_of(failed)) == ("Failed", "ParamFileMissing")
