"""A package folder as the executor's users keep it, read into Ferris objects; a folder Ferris
cannot take is refused naming the file or field and the fix."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from ferris_operator.cli import package_folder
from ferris_operator.cli.main import main
from ferris_operator.cli.package_folder import package_object, trigger_objects
from ferris_wire.package_folder import FolderError, read_folder

EXAMPLES = Path(__file__).resolve().parents[4] / "examples" / "package-folders"


def folder(tmp_path: Path, files: dict[str, str | bytes], name: str = "nightly-job") -> Path:
    path = tmp_path / name
    path.mkdir()
    for file, content in files.items():
        (path / file).write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def test_the_manifests_order_description_schedule_and_events_become_the_package_and_triggers(tmp_path: Path) -> None:
    manifest = {
        "description": "d",
        "execution_order": ["b.py", "a.py"],
        "schedule": "0 3 * * *",
        "trigger_events": ["com.x.done", "com.y.done"],
        "active": False,
        "tags": ["ops"],
    }
    read = read_folder(
        folder(tmp_path, {"manifest.json": json.dumps(manifest), "a.py": "1", "b.py": "2", "lib.py": "3"})
    )
    package = package_object(read)
    assert read.name == "nightly-job" and list(read.files) == ["a.py", "b.py", "lib.py"]
    assert package["spec"]["executionOrder"] == ["b.py", "a.py"] and "entrypoint" not in package["spec"]
    assert package["spec"]["schedule"] == {"crons": ["0 3 * * *"], "suspend": True}  # active false
    assert package["spec"]["scripts"][2] == {
        "name": "lib.py",
        "configMapRef": {"name": "nightly-job-files", "key": "lib.py"},
    }
    assert package["metadata"]["annotations"] == {"ferris.io/tags": "ops"}
    triggers = trigger_objects(read)
    assert [t["spec"]["filter"] for t in triggers] == [{"type": "com.x.done"}, {"type": "com.y.done"}]
    assert all(
        t["spec"]["suspend"] and t["spec"]["targets"] == [{"packageRef": {"name": "nightly-job"}}] for t in triggers
    )


def test_an_entrypoint_wins_over_an_execution_order_as_the_executor_had_it(tmp_path: Path) -> None:
    manifest = {"entrypoint": "a.py", "execution_order": ["b.py", "a.py"], "allow_manual_triggering": False, "x": 1}
    read = read_folder(folder(tmp_path, {"manifest.json": json.dumps(manifest), "a.py": "1", "b.py": "2"}))
    spec = package_object(read)["spec"]
    assert spec["entrypoint"] == "a.py" and "executionOrder" not in spec
    notes = " | ".join(read.manifest.notes)
    assert "entrypoint a.py runs alone" in notes and "allow_manual_triggering" in notes and "x is not one" in notes


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"manifest.json": "{", "a.py": "1"}, "manifest.json is not JSON"),
        ({"manifest.json": '{"execution_order": ["c.py"]}', "a.py": "1"}, "execution_order names 'c.py', which is not"),
        (
            {"manifest.json": '{"execution_order": ["d.csv"]}', "d.csv": "1"},
            "only .py, .sh and .sql files run as steps",
        ),
        ({"manifest.json": '{"entrypoint": "x.py"}', "a.py": "1"}, "entrypoint 'x.py' must name a file"),
        ({"manifest.json": '{"schedule": 5}', "a.py": "1"}, "schedule must be a cron expression"),
        ({"a b.py": "1"}, "a b.py: a file name may hold"),
        ({"data.csv": "1"}, "holds no .py or .sh file to run"),
        ({"a.py": "x" * (8 * 1024 * 1024 + 1)}, "over a package's 8388608"),
    ],
)
def test_a_folder_ferris_cannot_take_is_refused_naming_the_file_and_the_fix(
    tmp_path: Path, files: dict[str, str | bytes], message: str
) -> None:
    with pytest.raises(FolderError, match=message.replace("(", r"\(").replace(".", r"\.")):
        read_folder(folder(tmp_path, files))


def test_a_subfolder_and_a_name_kubernetes_refuses_are_refused(tmp_path: Path) -> None:
    path = folder(tmp_path, {"a.py": "1"})
    (path / "lib").mkdir()
    with pytest.raises(FolderError, match="lib/ is a folder"):
        read_folder(path)
    with pytest.raises(FolderError, match="is not a Kubernetes name"):
        read_folder(folder(tmp_path, {"a.py": "1"}, name="Bad.Name"))
    assert read_folder(folder(tmp_path, {"a.py": "1"}, name="Snake_Case")).name == "snake-case"


def test_sql_steps_need_the_secret_naming_their_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = json.dumps({"execution_order": ["load.py", "report.sql"]})
    path = folder(tmp_path, {"manifest.json": manifest, "load.py": "1", "report.sql": "SELECT 1;"})
    assert main(["package", str(path)]) == 2
    assert "report.sql is a .sql step: give --sql-secret NAME" in capsys.readouterr().err
    assert main(["package", str(path), "--sql-secret", "warehouse", "--sql-transaction", "perStatement"]) == 0
    package = list(yaml.safe_load_all(capsys.readouterr().out))[1]
    assert package["spec"]["executionOrder"] == ["load.py", "report.sql"]
    assert package["spec"]["sql"] == {"connectionSecret": "warehouse", "transaction": "perStatement"}


def test_secrets_json_is_never_printed_in_plain_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = folder(tmp_path, {"a.py": "1", "secrets.json": '{"TOKEN": "pl41n-t3xt"}'})
    assert main(["package", str(path)]) == 2
    out, err = capsys.readouterr()
    assert "pl41n-t3xt" not in out + err and "--seal" in err
    assert main(["package", str(path), "--skip-secrets"]) == 0
    printed = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [o["kind"] for o in printed] == ["ConfigMap", "FerrisPackage"] and "pl41n-t3xt" not in json.dumps(printed)


def test_the_examples_kustomizations_are_what_ferris_package_writes(tmp_path: Path) -> None:
    """examples/package-folders is committed with its generated files: they must be current."""
    copy = tmp_path / "package-folders"
    shutil.copytree(EXAMPLES, copy)
    assert main(["package", str(copy), "--all", "--kustomize"]) == 0
    for written in sorted(copy.rglob("*.yaml")):
        committed = EXAMPLES / written.relative_to(copy)
        assert committed.read_text() == written.read_text(), (
            f"{committed}: run ferris package {EXAMPLES} --all --kustomize"
        )


def test_binary_and_large_files_spread_over_configmaps_and_a_large_one_is_named_by_its_parts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logo = b"\x89PNG\r\n\x1a\n\xff"
    model = bytes(range(256)) * 8000  # 2,048,000 bytes: three parts
    read = read_folder(folder(tmp_path, {"a.py": "1", "logo.png": logo, "model.bin": model}))
    configmaps = package_folder.configmap_objects(read)
    assert [c["metadata"]["name"] for c in configmaps] == [
        "nightly-job-files",
        "nightly-job-files-2",
        "nightly-job-files-3",
        "nightly-job-files-4",
    ]
    assert all(
        sum(len(v) for v in c.get("data", {}).values())
        + sum(len(base64.b64decode(v)) for v in c.get("binaryData", {}).values())
        <= package_folder.CONFIGMAP_BYTES
        for c in configmaps
    )
    assert configmaps[0]["data"] == {"a.py": "1"} and base64.b64decode(configmaps[0]["binaryData"]["logo.png"]) == logo
    scripts = {s["name"]: s for s in package_object(read)["spec"]["scripts"]}
    assert scripts["logo.png"] == {"name": "logo.png", "configMapRef": {"name": "nightly-job-files", "key": "logo.png"}}
    refs = scripts["model.bin"]["configMapRefs"]
    assert [r["key"] for r in refs] == ["model.bin.part-0", "model.bin.part-1", "model.bin.part-2"]
    by_name = {c["metadata"]["name"]: c for c in configmaps}
    joined = b"".join(base64.b64decode(by_name[r["name"]]["binaryData"][r["key"]]) for r in refs)
    assert joined == model
    with pytest.raises(FolderError, match=r"model\.bin is 2048000 bytes: a kustomization.s ConfigMap generator holds"):
        package_folder.kustomization(read)


def test_a_kustomization_of_files_over_one_configmap_has_a_generator_for_each() -> None:
    read = read_folder_of({"a.py": b"1", "b.txt": b"b" * 600_000, "c.txt": b"c" * 600_000})
    generators = package_folder.kustomization(read)["configMapGenerator"]
    assert generators == [
        {"name": "k-files", "files": ["a.py", "b.txt"]},
        {"name": "k-files-2", "files": ["c.txt"]},
    ]
    keys = {s["name"]: s["configMapRef"]["name"] for s in package_object(read)["spec"]["scripts"]}
    assert keys == {"a.py": "k-files", "b.txt": "k-files", "c.txt": "k-files-2"}


def read_folder_of(files: dict[str, bytes]) -> Any:
    from ferris_wire.package_folder import Folder

    return Folder("k", files)


def test_the_repository_kustomization_lists_each_folder() -> None:
    assert package_folder.repository_kustomization(["b", "a"])["resources"] == ["a", "b"]
