"""The Dockerfiles: linted, hardened, and consistent with what the process node runs."""

from __future__ import annotations

import re
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
    subprocess.run(
        [*WHEEL, str(tmp_path), str(REPO / "runner-image")],
        check=True,
    )
    wheel = next(tmp_path.glob("ferris_runner-*.whl"))
    top = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert {t for t in top if not t.endswith(".dist-info")} == {"ferris_runner", "ferris_ef"}


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
    """The operator's distribution (and so its image) ships no local cluster and no runner."""
    subprocess.run(
        [*WHEEL, str(tmp_path), str(REPO / directory)],
        check=True,
    )
    wheel = next(tmp_path.glob(f"{wheel_name}-*.whl"))
    top = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert {t for t in top if not t.endswith(".dist-info")} == packages


def test_operator_image_copies_neither_the_runner_nor_the_local_cluster() -> None:
    copies = re.findall(r"^COPY (?!--from)(\S+)", DOCKERFILES["operator"].read_text(), re.MULTILINE)
    assert copies and not any(path.startswith(("runner-image", "devcluster")) for path in copies)
