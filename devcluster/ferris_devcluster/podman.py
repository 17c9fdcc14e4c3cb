"""Podman, as the local cluster uses it: a private image store and settings under the cache
directory (never the user's own podman), runc with cgroupfs, and the calls the image build and
the container node make.

Why these settings: Debian's crun fails on a host with a hybrid cgroup layout, where runc works;
cgroupfs because there may be no systemd; events to a file because there may be no journal;
explicit ulimits because the host's may be lower than a container runtime's defaults.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ferris_devcluster.binaries import cache_root

CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""

STORAGE_CONF = """\
[storage]
driver = "overlay"
graphroot = "{root}/storage"
runroot = "{root}/run"
"""

PACKAGES = ("podman", "runc", "mmdebstrap")


class PodmanMissing(RuntimeError):
    """podman, runc or mmdebstrap is not installed."""


def store_dir() -> Path:
    return cache_root() / "containers"


def missing_tools() -> list[str]:
    return [tool for tool in PACKAGES if shutil.which(tool) is None]


def ensure_tools() -> None:
    """Install Debian's podman, runc and mmdebstrap when they are missing and we may (root)."""
    if not missing_tools():
        return
    if os.geteuid() != 0:
        raise PodmanMissing(f"install {' '.join(PACKAGES)} (apt), or run as root to have them installed")
    install = ["apt-get", "install", "-y", "-q", *PACKAGES]
    if subprocess.run(install, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, check=True)
        subprocess.run(install, capture_output=True, check=True)


@dataclass(frozen=True)
class Podman:
    """Calls into the private store. ``env`` is what every podman process must see."""

    root: Path

    @classmethod
    def local(cls) -> Podman:
        podman = cls(store_dir())
        podman.root.mkdir(parents=True, exist_ok=True)
        conf = podman.root / "containers.conf"
        if not conf.exists() or conf.read_text() != CONTAINERS_CONF:
            conf.write_text(CONTAINERS_CONF)
        storage = podman.root / "storage.conf"
        wanted = STORAGE_CONF.format(root=podman.root)
        if not storage.exists() or storage.read_text() != wanted:
            storage.write_text(wanted)
        return podman

    @property
    def env(self) -> dict[str, str]:
        return {
            "CONTAINERS_CONF": str(self.root / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(self.root / "storage.conf"),
        }

    def argv(self, *args: str) -> list[str]:
        return ["podman", *args]

    def run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args),
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )

    def image_exists(self, reference: str) -> bool:
        return self.run("image", "exists", reference, check=False).returncode == 0

    def image_label(self, reference: str, label: str) -> str | None:
        result = self.run("image", "inspect", "--format", f'{{{{index .Labels "{label}"}}}}', reference, check=False)
        value = result.stdout.strip()
        return value if result.returncode == 0 and value and value != "<no value>" else None

    def image_user(self, reference: str) -> str:
        """The image's USER ("" when it runs as root by default)."""
        return self.run("image", "inspect", "--format", "{{.Config.User}}", reference).stdout.strip()

    def remove_containers(self, label: str) -> None:
        """Remove every container carrying ``label`` (key=value), running or not."""
        names = self.run("ps", "-a", "-q", "--filter", f"label={label}", check=False).stdout.split()
        if names:
            self.run("rm", "-f", "-t", "0", *names, check=False, timeout=60)


if __name__ == "__main__":  # `make container-tools`
    try:
        ensure_tools()
    except PodmanMissing as exc:
        raise SystemExit(str(exc)) from None
