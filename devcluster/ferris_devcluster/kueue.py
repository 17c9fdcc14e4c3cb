"""Kueue (sigs.k8s.io/kueue) on the local cluster: its controller built from its Go module into
the cache like the control plane, its CRDs from the same module, run as a process of the
cluster when asked (``LocalCluster(kueue=True)``, ``ferris-devcluster up --kueue``).

Kueue v0.17 reads two certificates from fixed paths that its configuration cannot move
(``/etc/kueue/metrics/certs`` and ``/visibility``). Rather than write those on the host, it
runs in a mount namespace of its own whose root is an overlay of the host's: the two folders
exist only in that overlay's upper layer, under the cluster's directory, and vanish with the
process. Its webhooks are not registered: Ferris makes its Jobs suspended and labelled itself
(Kueue's own note: a Job made unsuspended would start before Kueue stops it). Its visibility
server (queue positions) is served on loopback, not through the API server, which has no
aggregation layer here."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml

from ferris_devcluster.binaries import cache_root
from ferris_devcluster.gomodules import module_source
from ferris_devcluster.pki import serving_certificate
from ferris_devcluster.ports import free_port

MODULE = "sigs.k8s.io/kueue"
VERSION = "v0.17.0"
FIXED_CERT_DIRS = ("etc/kueue/metrics/certs", "visibility")  # relative to /
SUBMOUNTS = ("proc", "dev", "sys", "tmp")  # the host's, seen inside the overlay root


def binary() -> Path:
    """The kueue controller, built once per machine (``go install``; minutes on two cores)."""
    directory = cache_root() / f"kueue-{VERSION}"
    built = directory / "kueue"
    if not built.is_file():
        print(f"ferris-devcluster: building kueue {VERSION} into {directory} (first time only)", flush=True)
        partial = directory.with_name(directory.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        with tempfile.TemporaryDirectory(prefix="ferris-kueue-build-") as outside_any_module:
            subprocess.run(
                ["go", "install", f"{MODULE}/cmd/kueue@{VERSION}"],
                cwd=outside_any_module,
                env={**os.environ, "GOBIN": str(partial)},
                check=True,
            )
        partial.rename(directory)
    return built


def crd_dir() -> Path:
    """Kueue's plain CRDs (no conversion webhook: its overlay in config/components/crd adds one)."""
    return module_source(MODULE, VERSION) / "config" / "components" / "crd" / "bases"


class KueueSetup:
    """What the kueue process of one cluster needs: a certificate, a configuration, its ports,
    and the command that runs it in its own mount namespace."""

    def __init__(self, directory: Path, kubeconfig: Path) -> None:
        self.directory = directory
        self.kubeconfig = kubeconfig
        self.health_port = free_port()
        self.visibility_port = free_port()

    @property
    def visibility_url(self) -> str:
        return f"https://127.0.0.1:{self.visibility_port}"

    def prepare(self) -> list[str]:
        """Write what it reads; the command line that starts it."""
        certs = serving_certificate(self.directory / "certs", ("localhost", "127.0.0.1"))
        upper, work, root = (self.directory / name for name in ("upper", "work", "root"))
        for path in (work, root):
            path.mkdir(parents=True, exist_ok=True)
        for fixed in FIXED_CERT_DIRS:
            (upper / fixed).mkdir(parents=True, exist_ok=True)
            for name in ("tls.crt", "tls.key"):
                shutil.copyfile(certs / name, upper / fixed / name)
        config = self.directory / "kueue-config.yaml"
        config.write_text(yaml.safe_dump(self._configuration(certs)))
        mounts = " && ".join(
            [f"mount -t overlay overlay -o lowerdir=/,upperdir={upper},workdir={work} {root}"]
            + [f"mount --rbind /{name} {root}/{name}" for name in SUBMOUNTS]
        )
        launch = f"{mounts} && exec chroot {root} {binary()} --config={config} --kubeconfig={self.kubeconfig}"
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", launch]

    def _configuration(self, certs: Path) -> dict[str, object]:
        return {
            "apiVersion": "config.kueue.x-k8s.io/v1beta2",
            "kind": "Configuration",
            "namespace": "kueue-system",
            "health": {"healthProbeBindAddress": f"127.0.0.1:{self.health_port}"},
            "metrics": {"bindAddress": f"127.0.0.1:{free_port()}"},
            "webhook": {"host": "127.0.0.1", "port": free_port(), "certDir": str(certs)},
            "leaderElection": {"leaderElect": False},
            "internalCertManagement": {"enable": False},
            "visibilityServer": {"bindAddress": "127.0.0.1", "bindPort": self.visibility_port},
            "clientConnection": {"qps": 50, "burst": 100},
            "integrations": {"frameworks": ["batch/job"]},
        }
