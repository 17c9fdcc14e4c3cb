"""The operator never loads the Kubernetes client's typed API classes: its adapter sends plain
requests, and importing those classes (and the models they name) cost the operator about
25 MiB of its memory at rest. (kopf itself loads three models, for its own type checks.)"""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from kubernetes import client
import ferris_operator.main, ferris_operator.app
from ferris_operator.k8s.objects import Kube
kube = Kube(client.ApiClient())
kube.job_lister(None), kube.pod_lister("team")
print(sorted(m for m in sys.modules if m.startswith("kubernetes.client.api.")))
"""


def test_the_operator_s_modules_and_adapter_load_no_typed_api() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
