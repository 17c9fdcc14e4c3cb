"""`make images`: the command lines it runs (pure parts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferris_devcluster import imagebuild
from ferris_devcluster.imagebuild import BASE_IMAGE, OPERATOR, POSTGRES, RUNNER, build_argv, mmdebstrap_argv


def test_the_images_are_tagged_as_the_chart_names_them() -> None:
    assert imagebuild.operator_image() == "ghcr.io/ferris-run/ferris-operator:0.1.0"
    assert imagebuild.runner_image() == "ghcr.io/ferris-run/ferris-runner:0.1.0"
    assert POSTGRES.reference("0.1.0") == "docker.io/library/postgres:18"  # its own tag, not the app's


def test_a_proxys_ca_is_mounted_for_the_build_only(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    argv = build_argv(RUNNER, "0.1.0", ca)
    assert argv[argv.index("--volume") + 1] == f"{ca}:/run/ferris-build-ca.crt:ro"
    assert "PIP_CERT=/run/ferris-build-ca.crt" in argv
    assert f"PYTHON_IMAGE={BASE_IMAGE}" in argv
    assert argv[argv.index("--file") + 1].endswith("runner-image/Dockerfile")
    assert argv[-1] == str(imagebuild.REPO)
    assert "--volume" not in build_argv(OPERATOR, "0.1.0", None)


def test_the_build_ca_comes_from_pips_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        monkeypatch.delenv(variable, raising=False)
    assert imagebuild.build_ca() is None
    monkeypatch.setenv("PIP_CERT", str(tmp_path / "missing.crt"))
    assert imagebuild.build_ca() is None  # a file that is not there is not mounted
    (tmp_path / "ca.crt").write_text("x")
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.crt"))
    assert imagebuild.build_ca() == tmp_path / "ca.crt"


def test_the_base_is_debian_minbase_with_python_and_no_documentation(tmp_path: Path) -> None:
    argv = mmdebstrap_argv(tmp_path / "rootfs.tar")
    assert "--variant=minbase" in argv
    assert "--include=python3.11,python3.11-venv,python-is-python3,ca-certificates" in argv
    assert "--dpkgopt=path-exclude=/usr/share/doc/*" in argv
    assert argv[-3:] == ["bookworm", str(tmp_path / "rootfs.tar"), "http://deb.debian.org/debian"]
    assert len(imagebuild.base_recipe()) == 16 and imagebuild.base_recipe() == imagebuild.base_recipe()
