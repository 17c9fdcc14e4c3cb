"""The fast mode: a container is a host process in a private mount namespace (podexec binds
its volumes), its image an entry of the image table."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
from typing import Any

from ferris_devcluster.node.images import image_roots, resolve_argv
from ferris_devcluster.node.runtime import Exit, Launch

PR_SET_PDEATHSIG = 1
GRACE_CAP = 5.0  # host processes stop at once; the cap keeps a slow test from waiting on one


def die_with_parent() -> None:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class HostProcess:
    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process

    def running(self) -> bool:
        return self.process.poll() is None

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def finish(self) -> Exit:
        code = self.process.wait()
        return Exit(128 - code if code < 0 else code)


class ProcessRuntime:
    max_grace: float | None = GRACE_CAP

    def __init__(self, images: dict[str, list[str]], api_port: int) -> None:
        self.images = images
        self.api_port = api_port

    def _argv(self, container: dict[str, Any]) -> list[str] | None:
        return resolve_argv(self.images, container["image"], container.get("command"), container.get("args"))

    def pullable(self, image: str) -> bool:
        return self._argv({"image": image}) is not None

    def check(self, pod: dict[str, Any], container: dict[str, Any]) -> None:
        return None  # host processes run as the node's user: no security context to verify

    def start(self, launch: Launch) -> HostProcess:
        argv = self._argv(launch.container)
        assert argv is not None  # pullable() was asked first
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": "/root",
            **launch.env,
        }
        spec = {
            "argv": argv,
            "workingDir": launch.container.get("workingDir"),
            "preserve": image_roots(),
            "mounts": [{"source": m.source, "target": m.target, "readOnly": m.read_only} for m in launch.mounts],
        }
        spec_file = launch.pod_dir / f"{launch.container['name']}.spec.json"
        spec_file.write_text(json.dumps(spec))
        with open(launch.log_file, "ab") as out:
            process = subprocess.Popen(
                [
                    "unshare",
                    "--mount",
                    "--propagation",
                    "private",
                    sys.executable,
                    "-I",
                    "-m",
                    "ferris_devcluster.node.podexec",
                    str(spec_file),
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        return HostProcess(process)

    def close(self) -> None:
        return None
