"""Render deploy/ferris.yaml (the `kubectl apply -f` install) from the Helm chart.

`make manifests` writes it; a test checks that the committed file equals a fresh render.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ferris_devcluster import binaries

REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "deploy" / "ferris.yaml"
NAMESPACE = "ferris-system"
VALUES = [
    "database.existingSecret=ferris-database",
    "masterKey.existingSecret=ferris-master-key",
    "runnerApi.tls.existingSecret=ferris-runner-api-tls",
    "server.tls.existingSecret=ferris-server-tls",
]

HEADER = f"""\
# Ferris, for `kubectl apply -f` (rendered from charts/ferris by `make manifests`; do not edit).
#
# Before applying, create the four Secrets the operator and the server read (the chart would
# generate the master key and the two certificates; plain manifests must not ship any):
#   kubectl create namespace {NAMESPACE}
#   kubectl -n {NAMESPACE} create secret generic ferris-master-key \\
#     --from-literal=k1="$(ferris keys generate)" --from-literal=active=k1
#   kubectl -n {NAMESPACE} create secret generic ferris-database --from-literal=url=postgresql://...
#   kubectl -n {NAMESPACE} create secret generic ferris-runner-api-tls \\
#     --from-file=ca.crt --from-file=tls.crt --from-file=tls.key   # for ferris-runner-api.{NAMESPACE}.svc
#   kubectl -n {NAMESPACE} create secret generic ferris-server-tls \
#     --from-file=ca.crt --from-file=tls.crt --from-file=tls.key   # for ferris-server.{NAMESPACE}.svc
#   (or let cert-manager Certificates write those two Secrets)
# then: kubectl apply --server-side -f deploy/ferris.yaml
---
apiVersion: v1
kind: Namespace
metadata:
  name: {NAMESPACE}
  labels:
    app.kubernetes.io/part-of: ferris
"""


def render(helm: str) -> str:
    args = [helm, "template", "ferris", str(REPO / "charts" / "ferris"), "--namespace", NAMESPACE, "--include-crds"]
    for value in VALUES:
        args += ["--set", value]
    rendered = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return HEADER + rendered


def main() -> None:
    OUTPUT.write_text(render(binaries.resolve()["helm"]))
    print(f"wrote {OUTPUT.relative_to(REPO)}", file=sys.stderr)


if __name__ == "__main__":
    main()
