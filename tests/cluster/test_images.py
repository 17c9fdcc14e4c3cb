"""`make images` on a machine that has never built them: an empty image store, the Python base
made from Debian's packages, then the operator, runner and PostgreSQL stand-in images. The
build's CA mount leaves nothing in an image."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ferris_devcluster.imagebuild import BASE_IMAGE, POSTGRES, operator_image, runner_image
from ferris_devcluster.podman import Podman

pytestmark = pytest.mark.cluster
DEVCLUSTER = str(Path(sys.executable).parent / "ferris-devcluster")


@pytest.mark.long
@pytest.mark.timeout(1800)  # a cold build of the base and both images: near 600 s on two busy cores
def test_the_images_build_from_a_clean_store_and_keep_no_build_secret(tmp_path: Path) -> None:
    result = subprocess.run(
        [DEVCLUSTER, "images"],
        env={**os.environ, "FERRIS_CACHE_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    podman = Podman(tmp_path / "containers")
    postgres = POSTGRES.reference("")
    assert result.stdout.split() == [operator_image(), runner_image(), postgres]
    assert "making localhost/ferris-python-base" in result.stderr  # the store was empty
    for reference in (BASE_IMAGE, operator_image(), runner_image(), postgres):
        assert podman.image_exists(reference), reference
    for reference in (operator_image(), runner_image()):
        [image] = json.loads(podman.run("image", "inspect", reference).stdout)
        assert image["Config"]["User"] == "65532:65532"
        assert not [e for e in image["Config"]["Env"] if e.startswith("PIP_CERT")], image["Config"]["Env"]
        leftover = podman.run(
            "run", "--rm", "--network", "none", "--entrypoint", '["sh", "-c"]', reference,
            "test ! -e /run/ferris-build-ca.crt && echo clean",
        )  # fmt: skip
        assert leftover.stdout.strip() == "clean"
    started = podman.run(
        "run", "--rm", "--network", "none", "--read-only", "--cap-drop", "ALL", operator_image(), check=False
    )  # fmt: skip
    assert "set FERRIS_DATABASE_URL" in started.stdout + started.stderr  # its entry point, as its user
