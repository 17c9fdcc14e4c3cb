"""python -m ferris_devcluster.node --kubeconfig PATH --name NODE --state-dir DIR [--runtime containers]"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
import time
from pathlib import Path
from types import FrameType

from kubernetes import client, config

from ferris_devcluster.node.agent import Node
from ferris_devcluster.node.container_runtime import ContainerRuntime
from ferris_devcluster.node.images import load_table
from ferris_devcluster.node.process_runtime import ProcessRuntime
from ferris_devcluster.node.runtime import Runtime
from ferris_devcluster.podman import Podman


def main() -> None:
    parser = argparse.ArgumentParser(prog="process-node")
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--name", default="process-node")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--api-port", type=int, required=True)
    parser.add_argument("--images", help="processes: JSON object, image repository -> entrypoint argv")
    parser.add_argument(
        "--runtime",
        choices=["processes", "containers"],
        default="processes",
        help="processes: images from the image table run as host processes (fast); "
        "containers: images from the local image store run as containers (podman + runc)",
    )
    parser.add_argument(
        "--max-pods",
        type=int,
        default=int(os.environ.get("FERRIS_NODE_MAX_PODS", "16")),
        help="pods running at once; more wait unbound, as on a full node",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    configuration = client.Configuration()
    config.load_kube_config(config_file=args.kubeconfig, client_configuration=configuration)
    configuration.connection_pool_maxsize = 64
    runtime: Runtime
    if args.runtime == "containers":
        runtime = ContainerRuntime(Podman.local(), args.state_dir)
    else:
        runtime = ProcessRuntime(load_table(args.images), args.api_port)
    node = Node(client.ApiClient(configuration), args.name, args.state_dir, runtime, args.api_port, args.max_pods)

    asked: list[int] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        # Only a flag: Event.set() here could wait for the lock that the main thread's
        # Event.wait() holds when the signal lands, and the node would never stop.
        asked.append(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    threading.Thread(target=node.run, name="watch", daemon=True).start()
    threading.Thread(target=node.follow_cordon, name="cordon", daemon=True).start()
    while not asked:
        time.sleep(0.2)
    node.shutdown()


if __name__ == "__main__":
    main()
