"""The container mode: a pod's containers run as real containers (podman + runc) from the
local image store, with the host's network (pods reach the API server on loopback), the
pod's volumes bound, its security context applied, its limits set, and its grace period
honoured. An image that is not in the store cannot be pulled."""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from ferris_devcluster.node import podman_run
from ferris_devcluster.node.cgroups import MemoryCgroups, OomWatch, v1_memory_available
from ferris_devcluster.node.process_runtime import die_with_parent
from ferris_devcluster.node.runtime import Exit, Launch
from ferris_devcluster.podman import Podman

NODE_LABEL = "io.ferris.devcluster.node"
STATE_LABEL = "io.ferris.devcluster.state"  # the node's state directory
PIDS_LIMIT = 1024
SIGKILL_EXIT = 137


def node_id(state_dir: Path) -> str:
    """Names this node's containers and cgroups apart from another local cluster's."""
    return hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:12]


class Container:
    def __init__(self, runtime: ContainerRuntime, name: str, process: subprocess.Popen[bytes]) -> None:
        self.runtime = runtime
        self.name = name
        self.process = process
        self.client_gone = False
        self.oom_killed = False

    def guard_memory(self, watch: OomWatch, cgroups: MemoryCgroups) -> None:
        """Once the OOM killer runs in the container's cgroup, the whole container is killed, as
        Kubernetes does on a cgroup v2 host (``memory.oom.group``), and it ends OOMKilled."""
        try:
            while self.running():
                if watch.wait(0.25):
                    self.oom_killed = True
                    cgroups.kill_container(self.name)
                    return
        finally:
            watch.close()

    def running(self) -> bool:
        if self.process.poll() is None:
            return True
        if not self.client_gone:
            # The podman client ended (killed, say) but the container may live on, as a
            # container outlives a kubelet: follow it with `podman wait` instead.
            self.client_gone = True
            self.process = subprocess.Popen(
                self.runtime.podman.argv("wait", self.name),
                env={**os.environ, **self.runtime.podman.env},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
            return self.process.poll() is None
        return False

    def terminate(self) -> None:
        self.runtime.podman.run("kill", "--signal", "TERM", self.name, check=False)

    def kill(self) -> None:
        self.runtime.podman.run("kill", "--signal", "KILL", self.name, check=False)

    def finish(self) -> Exit:
        while self.running():
            self.process.wait()
        code = self.process.returncode
        inspected = self.runtime.podman.run(
            "inspect",
            "--type",
            "container",
            "--format",
            "{{.State.ExitCode}} {{.State.OOMKilled}}",
            self.name,
            check=False,
        )
        reason = None
        if inspected.returncode == 0:
            exit_code, oom = inspected.stdout.split()
            code = int(exit_code)
            if oom == "true":  # the runtime saw it (a cgroup v2 host)
                reason = "OOMKilled"
        if self.oom_killed:
            code, reason = SIGKILL_EXIT, "OOMKilled"
        self.runtime.release(self.name)
        return Exit(code, reason)


class ContainerRuntime:
    max_grace: float | None = None

    def __init__(self, podman: Podman, state_dir: Path) -> None:
        self.podman = podman
        self.node = node_id(state_dir)
        self.state_dir = state_dir.resolve()
        self.cgroups = MemoryCgroups(f"ferris-node-{self.node}") if v1_memory_available() else None
        clear_orphans(podman)
        self.close()  # a node that restarts finds its containers gone, as after a reboot

    def pullable(self, image: str) -> bool:
        return self.podman.image_exists(podman_run.normalize_image(image))

    def check(self, pod: dict[str, Any], container: dict[str, Any]) -> None:
        image_user = self.podman.image_user(podman_run.normalize_image(container["image"]))
        podman_run.security(pod, container, image_user)

    def container_name(self, pod: dict[str, Any], container: dict[str, Any]) -> str:
        return f"ferris-{self.node}-{pod['metadata']['uid'][:13]}-{container['name']}"[:120]

    def start(self, launch: Launch) -> Container:
        pod, container = launch.pod, launch.container
        image = podman_run.normalize_image(container["image"])
        name = self.container_name(pod, container)
        self.podman.run("rm", "--force", "--time", "0", name, check=False)  # a try that failed half-way
        limits = podman_run.limits(container)
        cgroup_parent, watch = None, None
        if self.cgroups is not None:  # every container below the node's own cgroup, limited or not
            self.cgroups.create(name, limits.memory_bytes)
            cgroup_parent = self.cgroups.parent(name)
            if limits.memory_bytes is not None:
                watch = self.cgroups.watch_oom(name)
        request = podman_run.RunRequest(
            name=name,
            image=image,
            container=container,
            security=podman_run.security(pod, container, self.podman.image_user(image)),
            mounts=tuple(launch.mounts),
            env=launch.env,
            labels={
                NODE_LABEL: self.node,
                STATE_LABEL: str(self.state_dir),
                "io.kubernetes.pod.uid": pod["metadata"]["uid"],
            },
            hostname=pod["metadata"]["name"][:63],
            cgroup_parent=cgroup_parent,
            memory_bytes=None if cgroup_parent else limits.memory_bytes,
            cpus=limits.cpus,
            pids_limit=PIDS_LIMIT,
        )
        with open(launch.log_file, "ab") as out:
            process = subprocess.Popen(
                podman_run.run_argv(request),
                env={**os.environ, **podman_run.passed_env(launch.env), **self.podman.env},
                cwd=self.state_dir,  # conmon leaves a file named `oom` in its directory after an OOM kill
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        started = Container(self, name, process)
        if watch is not None and self.cgroups is not None:
            threading.Thread(
                target=started.guard_memory, args=(watch, self.cgroups), name=f"oom-{name}", daemon=True
            ).start()
        return started

    def release(self, name: str) -> None:
        self.podman.run("rm", "--force", "--time", "0", name, check=False)
        if self.cgroups is not None:
            # conmon leaves its cgroup a moment after the container's end
            for _ in range(20):
                self.cgroups.remove(name)
                if not (self.cgroups.root / "memory" / self.cgroups.node_group / name).exists():
                    break
                time.sleep(0.05)

    def close(self) -> None:
        clear_node(self.podman, self.node)


def clear_node(podman: Podman, node: str) -> None:
    """Remove every container and cgroup of a node (``node_id``): at its start, at its end, and
    after it was killed."""
    podman.remove_containers(f"{NODE_LABEL}={node}")
    if v1_memory_available():
        MemoryCgroups(f"ferris-node-{node}").remove_all()


def clear_orphans(podman: Podman) -> None:
    """Remove the containers of nodes whose cluster is gone (its folder removed after the node
    was killed, so that nobody stopped them)."""
    template = f'{{{{.ID}}}} {{{{index .Labels "{STATE_LABEL}"}}}}'
    listed = podman.run("ps", "-a", "--filter", f"label={STATE_LABEL}", "--format", template, check=False)
    orphans = [
        fields[0]
        for fields in (line.split(maxsplit=1) for line in listed.stdout.splitlines())
        if len(fields) == 2 and not Path(fields[1]).is_dir()
    ]
    if orphans:
        podman.run("rm", "--force", "--time", "0", *orphans, check=False, timeout=60)
