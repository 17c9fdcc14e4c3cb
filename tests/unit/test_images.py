"""The Dockerfiles: linted, hardened, and consistent with what the process node runs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ferris_devcluster.node.images import OPERATOR_IMAGE, RUNNER_IMAGE, default_table

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = {"operator": REPO / "Dockerfile", "runner": REPO / "runner-image" / "Dockerfile"}
# What a wheel carries is setuptools' to decide, isolated or not: built with the test
# environment's own setuptools, a wheel takes a second instead of a fresh build env's ten.
WHEEL = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w"]
# Local state a build leaves, never part of a distribution (the .dockerignore keeps it out of images).
LOCAL_STATE = shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".venv", "*.pyc")


def built_wheel(tmp_path: Path, directory: str, wheel_name: str) -> Path:
    """The distribution in ``directory`` built as a wheel from a copy of its sources: setuptools
    builds in the tree it is given and packs whatever its ``build/lib`` holds, so a build in the
    checkout would leave folders behind and ship modules that were moved or deleted since."""
    source = tmp_path / "src"
    if directory == ".":  # the operator's distribution: what the Dockerfile copies
        source.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy(REPO / name, source / name)
        shutil.copytree(REPO / "operator", source / "operator", ignore=LOCAL_STATE)
    else:
        shutil.copytree(REPO / directory, source, ignore=LOCAL_STATE)
    subprocess.run([*WHEEL, str(tmp_path / "wheels"), str(source)], check=True)
    return next((tmp_path / "wheels").glob(f"{wheel_name}-*.whl"))


def modules_of(wheel: Path) -> set[str]:
    return {name for name in zipfile.ZipFile(wheel).namelist() if name.endswith(".py")}


def sources_of(*packages: Path) -> set[str]:
    return {
        str(path.relative_to(package.parent))
        for package in packages
        for path in package.rglob("*.py")
        if "__pycache__" not in path.parts
    }


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_hadolint_is_clean(name: str) -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run([str(hadolint), str(DOCKERFILES[name])], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_multi_stage_pinned_non_root_with_oci_labels(name: str) -> None:
    text = DOCKERFILES[name].read_text()
    assert len(re.findall(r"^FROM ", text, re.MULTILINE)) == 2
    assert re.search(r"^ARG PYTHON_IMAGE=python:\d+\.\d+\.\d+-slim-bookworm$", text, re.MULTILINE)
    assert ":latest" not in text
    assert re.search(r"^USER \d+:\d+$", text, re.MULTILINE)
    for label in ("title", "description", "version", "licenses", "source"):
        assert f"org.opencontainers.image.{label}=" in text
    assert "PYTHONDONTWRITEBYTECODE=1" in text  # works under a read-only root file system


def test_entry_points_match_the_process_node_table() -> None:
    table = default_table()
    operator_text = DOCKERFILES["operator"].read_text()
    runner_text = DOCKERFILES["runner"].read_text()
    assert 'ENTRYPOINT ["ferris-operator"]' in operator_text
    assert 'ENTRYPOINT ["ferris-runner"]' in runner_text
    assert Path(table[OPERATOR_IMAGE][0]).name == "ferris-operator"
    assert Path(table[RUNNER_IMAGE][0]).name == "ferris-runner"


def test_runner_distribution_carries_only_the_runner_and_helper(tmp_path: Path) -> None:
    wheel = built_wheel(tmp_path, "runner-image", "ferris_runner")
    top = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    packages = ("ferris_runner", "ferris_ef", "ferris_sql")
    assert {t for t in top if not t.endswith(".dist-info")} == set(packages)
    assert modules_of(wheel) == sources_of(*(REPO / "runner-image" / t for t in packages))


@pytest.mark.parametrize(
    ("directory", "wheel_name", "packages"),
    [
        (".", "ferris", {"ferris_operator"}),
        ("ciphertext", "ferris_ciphertext", {"ferris_ciphertext"}),
        ("wire", "ferris_wire", {"ferris_wire"}),
        ("devcluster", "ferris_devcluster", {"ferris_devcluster"}),
    ],
)
def test_each_distribution_carries_its_own_packages_only(
    tmp_path: Path, directory: str, wheel_name: str, packages: set[str]
) -> None:
    """The operator's distribution (and so its image) ships no local cluster and no runner, and
    each ships exactly the modules its sources hold: none moved or deleted since."""
    wheel = built_wheel(tmp_path, directory, wheel_name)
    top = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert {t for t in top if not t.endswith(".dist-info")} == packages
    home = REPO / ("operator" if directory == "." else directory)
    assert modules_of(wheel) == sources_of(*(home / package for package in packages))


def test_operator_image_copies_neither_the_runner_nor_the_local_cluster() -> None:
    copies = re.findall(r"^COPY (?!--from)(\S+)", DOCKERFILES["operator"].read_text(), re.MULTILINE)
    assert copies and not any(path.startswith(("runner-image", "devcluster")) for path in copies)
