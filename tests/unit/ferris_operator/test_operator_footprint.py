"""What the operator's modules load, since what is loaded stays in its memory: never the
Kubernetes client's typed API classes (its adapter sends plain requests; importing them and the
models they name cost 25 MiB at rest), and grpc only where a KMS plugin is configured (9 MiB).
(kopf itself loads three of the client's models, for its own type checks.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROBE = """
import json, sys
from pathlib import Path
from kubernetes import client
import ferris_operator.main, ferris_operator.app
from ferris_operator.k8s.objects import Kube
from ferris_operator.kek.factory import key_setup
from ferris_operator.settings import KeyProviderSettings
kube = Kube(client.ApiClient(client.Configuration(host="https://127.0.0.1:6443")))
kube.job_lister(None), kube.pod_lister("team")
key_setup(KeyProviderSettings.from_env({"FERRIS_MASTER_KEY_DIR": sys.argv[1]}, "probe"), Path(sys.argv[1]))
print(json.dumps({
    "typed_apis": sorted(m for m in sys.modules if m.startswith("kubernetes.client.api.")),
    "grpc": "grpc" in sys.modules,
}))
"""


def test_the_operator_loads_no_typed_api_and_no_grpc_without_a_kms(tmp_path: Path) -> None:
    (tmp_path / "k1").write_text("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
    (tmp_path / "active").write_text("k1")
    done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == {"typed_apis": [], "grpc": False}
