"""Local cluster figures: control-plane start-up and a trivial Job from creation to Complete.
`python -m bench.cluster_figures`."""

from __future__ import annotations

import json
import statistics
import subprocess
import time

from ferris_devcluster.cluster import LocalCluster


def main(repeats: int = 10) -> None:
    started = time.monotonic()
    with LocalCluster() as cluster:
        startup = time.monotonic() - started
        kubectl = [cluster.bins["kubectl"], f"--kubeconfig={cluster.kubeconfig}"]
        durations = []
        for i in range(repeats):
            job = {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {"name": f"trivial-{i}"},
                "spec": {
                    "backoffLimit": 0,
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "main", "image": "busybox", "command": ["true"]}],
                        }
                    },
                },
            }
            t0 = time.monotonic()
            subprocess.run(
                [*kubectl, "create", "-f", "-"], input=json.dumps(job), text=True, check=True, capture_output=True
            )
            subprocess.run(
                [*kubectl, "wait", "--for=condition=Complete", f"job/trivial-{i}", "--timeout=60s"],
                check=True,
                capture_output=True,
            )
            durations.append(time.monotonic() - t0)
    print(f"control plane + process node ready: {startup:.1f} s (binaries cached)")
    print(
        f"trivial Job, creation to Complete: median {statistics.median(durations) * 1000:.0f} ms, "
        f"min {min(durations) * 1000:.0f} ms, max {max(durations) * 1000:.0f} ms over {repeats}"
    )


if __name__ == "__main__":
    main()
