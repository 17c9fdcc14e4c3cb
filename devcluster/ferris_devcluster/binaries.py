"""Where the control-plane binaries come from: KUBEBUILDER_ASSETS, PATH, or a cached build.

The build compiles etcd, kube-apiserver, kube-controller-manager, kubectl, helm and the test
KMS v2 plugin from Go modules into a cache directory outside git (``$FERRIS_CACHE_DIR`` or ``~/.cache/ferris``),
once; later calls reuse it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

K8S_VERSION = "v1.35.4"
# Bump when build.sh changes what it produces: a cache with another stamp is rebuilt.
BUILD_STAMP = f"{K8S_VERSION} helm-v3.19.5 build-3"
TOOLS = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl", "helm", "kmsplugin")
BUILD_SCRIPT = Path(__file__).resolve().parent.parent / "gobuild" / "build.sh"


def cache_root() -> Path:
    """Where the local cluster keeps what it builds and runs: ``$FERRIS_CACHE_DIR`` or ``~/.cache/ferris``."""
    return Path(os.environ.get("FERRIS_CACHE_DIR", Path.home() / ".cache" / "ferris"))


def cache_dir() -> Path:
    return cache_root() / f"bins-{K8S_VERSION}"


@dataclass(frozen=True)
class Binaries:
    paths: dict[str, Path]
    sources: dict[str, str]

    def __getitem__(self, tool: str) -> str:
        return str(self.paths[tool])

    def describe(self) -> str:
        return ", ".join(f"{tool} from {self.sources[tool]}" for tool in TOOLS)


def _candidates(tool: str) -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets and (Path(assets) / tool).is_file():
        found.append((Path(assets) / tool, "KUBEBUILDER_ASSETS"))
    if (cache_dir() / tool).is_file() and cache_is_current():
        found.append((cache_dir() / tool, "cache"))
    on_path = shutil.which(tool)
    if on_path:
        found.append((Path(on_path), "PATH"))
    return found


def cache_is_current() -> bool:
    stamp = cache_dir() / "VERSION"
    return stamp.is_file() and stamp.read_text().strip() == BUILD_STAMP


def build(out: Path | None = None) -> Path:
    out = out or cache_dir()
    print(f"ferris-devcluster: building {', '.join(TOOLS)} {K8S_VERSION} into {out} (first time only)", file=sys.stderr)
    subprocess.run(
        ["bash", str(BUILD_SCRIPT), str(out)], check=True, env={**os.environ, "FERRIS_BUILD_STAMP": BUILD_STAMP}
    )
    return out


def resolve(build_missing: bool = True) -> Binaries:
    """Pick each tool from KUBEBUILDER_ASSETS, then the cache, then PATH; build what is missing."""
    paths: dict[str, Path] = {}
    sources: dict[str, str] = {}
    for attempt in range(2):
        missing = []
        for tool in TOOLS:
            candidates = _candidates(tool)
            if candidates:
                paths[tool], sources[tool] = candidates[0]
            else:
                missing.append(tool)
        if not missing:
            return Binaries(paths, sources)
        if attempt == 0 and build_missing:
            build()
    raise RuntimeError(f"missing binaries: {', '.join(missing)}; run `ferris-devcluster build`")
