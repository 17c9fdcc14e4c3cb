"""Go modules' sources as the module proxy serves them (``go mod download``), for what the local
world checks against another project's own files (CloudNativePG's CRDs, say). Read-only, in
Go's module cache; downloaded once per machine."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path


def module_source(module: str, version: str) -> Path:
    """The directory holding ``module`` at ``version``; RuntimeError with go's own words."""
    with tempfile.TemporaryDirectory(prefix="ferris-gomod-") as outside_any_module:
        done = subprocess.run(
            ["go", "mod", "download", "-json", f"{module}@{version}"],
            cwd=outside_any_module,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    answer = json.loads(done.stdout or "{}")
    if done.returncode != 0 or "Dir" not in answer:
        raise RuntimeError(f"go mod download {module}@{version}: {answer.get('Error') or done.stderr.strip()}")
    return Path(answer["Dir"])
