"""`make images`: the operator and runner images built from the repository's Dockerfiles into
the local cluster's image store, tagged as the chart names them.

No registry is needed: the Python base image is made from Debian's packages (mmdebstrap, then
imported) and kept until its recipe changes. The Dockerfiles themselves stay usable with any
registry base through the ``PYTHON_IMAGE`` build argument.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from ferris_devcluster.podman import Podman, ensure_tools

REPO = Path(__file__).resolve().parents[2]
BASE_IMAGE = "localhost/ferris-python-base:3.11-bookworm"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = ("python3.11", "python3.11-venv", "python-is-python3", "ca-certificates")
# Documentation and translations are dropped as the slim Python images drop them.
EXCLUDED_PATHS = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*")
RECIPE_LABEL = "io.ferris.base-recipe"
BUILD_CA_PATH = "/run/ferris-build-ca.crt"  # mounted for the build only


@dataclass(frozen=True)
class Image:
    repository: str
    dockerfile: str
    tag: str | None = None  # None: the chart's appVersion

    def reference(self, version: str) -> str:
        return f"{self.repository}:{self.tag or version}"


OPERATOR = Image("ghcr.io/ferris-run/ferris-operator", "Dockerfile")
RUNNER = Image("ghcr.io/ferris-run/ferris-runner", "runner-image/Dockerfile")
# The chart's evaluation PostgreSQL (postgresql.enabled) names the official image; the local
# cluster reaches no registry, so a stand-in with the same contract takes its name here.
POSTGRES = Image("docker.io/library/postgres", "devcluster/images/postgres.Containerfile", tag="18")


def app_version() -> str:
    chart = yaml.safe_load((REPO / "charts" / "ferris" / "Chart.yaml").read_text())
    return str(chart["appVersion"])


def operator_image() -> str:
    return OPERATOR.reference(app_version())


def runner_image() -> str:
    return RUNNER.reference(app_version())


def base_recipe() -> str:
    parts = [SUITE, MIRROR, *BASE_PACKAGES, *EXCLUDED_PATHS, "ENV LANG=C.UTF-8"]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def mmdebstrap_argv(tarball: Path) -> list[str]:
    return [
        "mmdebstrap",
        "--variant=minbase",
        f"--include={','.join(BASE_PACKAGES)}",
        *(f"--dpkgopt=path-exclude={path}" for path in EXCLUDED_PATHS),
        "--format=tar",
        SUITE,
        str(tarball),
        MIRROR,
    ]


def build_ca() -> Path | None:
    """The CA bundle pip must trust inside the build (a proxy's, say): mounted read-only for the
    build, never copied into an image."""
    for variable in ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        value = os.environ.get(variable)
        if value and Path(value).is_file():
            return Path(value)
    return None


def build_argv(image: Image, version: str, ca: Path | None) -> list[str]:
    argv = [
        "build",
        "--isolation=chroot",
        "--network=host",
        "--build-arg",
        f"PYTHON_IMAGE={BASE_IMAGE}",
        "--build-arg",
        f"VERSION={version}",
        "--file",
        str(REPO / image.dockerfile),
        "--tag",
        image.reference(version),
    ]
    if ca is not None:
        argv += ["--build-arg", f"PIP_CERT={BUILD_CA_PATH}", "--volume", f"{ca}:{BUILD_CA_PATH}:ro"]
    return [*argv, str(REPO)]


def _step(message: str) -> None:
    print(f"ferris-devcluster images: {message}", file=sys.stderr, flush=True)


def ensure_base(podman: Podman) -> None:
    recipe = base_recipe()
    if podman.image_label(BASE_IMAGE, RECIPE_LABEL) == recipe:
        return
    _step(f"making {BASE_IMAGE} from Debian {SUITE} (mmdebstrap; once per recipe)")
    with tempfile.TemporaryDirectory(prefix="ferris-base-") as scratch:
        tarball = Path(scratch) / "rootfs.tar"
        _checked(podman, mmdebstrap_argv(tarball), "mmdebstrap")
        podman.run(
            "import",
            "--change",
            f"LABEL {RECIPE_LABEL}={recipe}",
            "--change",
            "ENV LANG=C.UTF-8",
            "--change",
            'CMD ["python3"]',
            str(tarball),
            BASE_IMAGE,
            timeout=600,
        )


def _checked(podman: Podman, argv: list[str], what: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, **podman.env}, timeout=1800)
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


def build_images() -> list[str]:
    """Build the base (when its recipe changed), then the operator and runner images and the
    evaluation PostgreSQL's stand-in. Returns their references."""
    ensure_tools()
    podman = Podman.local()
    with _one_builder_at_a_time(podman.root / "build.lock"):
        ensure_base(podman)
        version = app_version()
        ca = build_ca()
        built = []
        for image in (OPERATOR, RUNNER, POSTGRES):
            started = time.monotonic()
            _checked(podman, podman.argv(*build_argv(image, version, ca)), f"building {image.reference(version)}")
            _step(f"built {image.reference(version)} in {time.monotonic() - started:.0f} s")
            built.append(image.reference(version))
    return built


@contextlib.contextmanager
def _one_builder_at_a_time(lock_file: Path) -> Iterator[None]:
    """Two processes building into one store (two test workers, a test and `make images`) take
    turns: the second then finds every layer cached. The lock goes with the process that holds it."""
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_built_in_this_process = False


def ensure_current_images() -> None:
    """Build the images once per process (layers cached: seconds when nothing changed), so that
    a container-mode cluster never runs images older than this checkout."""
    global _built_in_this_process
    if not _built_in_this_process:
        build_images()
        _built_in_this_process = True
