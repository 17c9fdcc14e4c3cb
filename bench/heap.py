"""What the operator keeps alive at rest after N packages were created: a fresh local stack, the
operator run under tracemalloc (``bench.traced_operator``), N one-script packages, a rest past
the periodic memory release, then the live allocations by file, line and call path, beside the
process's RSS. tracemalloc itself costs memory and CPU: the RSS here is higher than the
benchmark's, and only the shares are meant to be compared.

    .venv/bin/python -m bench.heap --packages 3000
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.cluster import namespace, package, rss_at_rest_mib, wait_ready
from ferris_devcluster import interrupts
from ferris_devcluster.kube import client_for
from ferris_devcluster.stack import REPO, FerrisStack


def main() -> None:
    interrupts.install()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packages", type=int, default=3000)
    args = parser.parse_args()
    with FerrisStack() as stack, tempfile.TemporaryDirectory(prefix="ferris-heap-") as scratch:
        stack.stop_operator()
        report = Path(scratch, "heap.txt")
        command = [sys.executable, "-m", "bench.traced_operator"]
        stack.start_operator(
            timeout=300, command=command, env={"FERRIS_HEAP_REPORT": str(report), "PYTHONPATH": str(REPO)}
        )
        assert stack.operator is not None
        traced = stack.operator  # stopped with the stack
        api = client_for(stack.kubeconfig).api
        ns = namespace(api, "heap")
        print(f"at rest, no package: RSS {rss_at_rest_mib(stack, traced.pid):.0f} MiB", flush=True)
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda i: package(api, ns, f"pkg-{i:05d}"), range(args.packages)))
        wait_ready(api, ns, f"pkg-{args.packages - 1:05d}", timeout=1800)
        rss = rss_at_rest_mib(stack, traced.pid)
        print(f"at rest after {args.packages} packages: RSS {rss:.0f} MiB", flush=True)
        os.kill(traced.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 120
        while not report.exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(1)
        print(report.read_text())


if __name__ == "__main__":
    main()
