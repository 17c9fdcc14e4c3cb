"""The container node's command lines: image references, quantities, security contexts and
``podman run`` as a kubelet's runtime would start a container."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from ferris_devcluster.node.podman_run import (
    ContainerConfigError,
    RunRequest,
    limits,
    normalize_image,
    passed_env,
    quantity,
    run_argv,
    security,
)
from ferris_devcluster.node.volumes import Mount

RUNNER_POD: dict[str, Any] = {
    "metadata": {"name": "r", "namespace": "ns", "uid": "u1"},
    "spec": {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532, "fsGroup": 65532},
        "containers": [],
    },
}
RUNNER_CONTAINER: dict[str, Any] = {
    "name": "runner",
    "image": "ghcr.io/ferris-run/ferris-runner:0.1.0",
    "workingDir": "/ferris/work",
    "securityContext": {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "capabilities": {"drop": ["ALL"]},
    },
    "resources": {"limits": {"memory": "64Mi", "cpu": "500m"}},
}


@pytest.mark.parametrize(
    ("given", "normalized"),
    [
        ("busybox", "docker.io/library/busybox:latest"),
        ("busybox:1.36", "docker.io/library/busybox:1.36"),
        ("library/python:3.11", "docker.io/library/python:3.11"),
        ("ghcr.io/ferris-run/ferris-runner:0.1.0", "ghcr.io/ferris-run/ferris-runner:0.1.0"),
        ("ghcr.io/ferris-run/ferris-runner", "ghcr.io/ferris-run/ferris-runner:latest"),
        ("localhost/base", "localhost/base:latest"),
        ("registry:5000/team/app", "registry:5000/team/app:latest"),
        ("app@sha256:" + "a" * 64, "docker.io/library/app@sha256:" + "a" * 64),
    ],
)
def test_image_references_read_as_a_runtime_reads_them(given: str, normalized: str) -> None:
    assert normalize_image(given) == normalized


@pytest.mark.parametrize(
    ("given", "value"),
    [("64Mi", 64 * 2**20), ("1Gi", 2**30), ("500m", Decimal("0.5")), ("2", 2), ("1e3", 1000), ("128M", 128 * 10**6)],
)
def test_quantities(given: str, value: Decimal) -> None:
    assert quantity(given) == value


def test_a_bad_quantity_names_itself() -> None:
    with pytest.raises(ContainerConfigError, match="'64 MB'"):
        quantity("64 MB")


def test_the_runner_jobs_security_context_becomes_flags() -> None:
    sec = security(RUNNER_POD, RUNNER_CONTAINER, image_user="65532:65532")
    request = RunRequest(
        name="c1",
        image="ghcr.io/ferris-run/ferris-runner:0.1.0",
        container=RUNNER_CONTAINER,
        security=sec,
        mounts=(Mount("/node/key", "/var/run/ferris/key", True), Mount("/node/work", "/ferris/work", False)),
        env={"FERRIS_RUN_UID": "u1", "PATH": "/custom/bin", "SECRET_ENV": "s3cr3t-value"},
        labels={"node": "n1"},
        hostname="r",
        cgroup_parent="/ferris-node-n1/c1",
        memory_bytes=None,
        cpus=limits(RUNNER_CONTAINER).cpus,
        pids_limit=1024,
    )
    argv = run_argv(request)
    joined = " ".join(argv)
    assert "--user 65532:65532" in joined
    assert "--group-add 65532" in joined
    assert "--read-only --read-only-tmpfs=false" in joined  # nothing writable over /tmp, as in Kubernetes
    assert "--cap-drop ALL" in joined
    assert "--security-opt no-new-privileges" in joined
    assert "--volume /node/key:/var/run/ferris/key:ro" in joined
    assert "--volume /node/work:/ferris/work:rw" in joined
    assert "--cgroup-parent /ferris-node-n1/c1" in joined
    assert "--memory" not in argv  # the limit sits on the cgroup parent
    assert "--cpus 0.5" in joined
    assert "--pull never" in joined
    assert "s3cr3t-value" not in joined  # values reach podman through its environment
    assert "--env SECRET_ENV" in joined
    assert "--env PATH=/custom/bin" in joined  # podman needs its own PATH
    assert passed_env(request.env) == {"FERRIS_RUN_UID": "u1", "SECRET_ENV": "s3cr3t-value"}
    assert argv[-1] == "ghcr.io/ferris-run/ferris-runner:0.1.0"


def test_command_replaces_the_entrypoint_and_args_follow_the_image() -> None:
    container = {"name": "c", "image": "x", "command": ["sh", "-c"], "args": ["echo hi"]}
    request = RunRequest(
        name="c",
        image="docker.io/library/x:latest",
        container=container,
        security=security({"spec": {}}, container, image_user=""),
        mounts=(),
        env={},
        labels={},
        hostname="p",
        cgroup_parent=None,
        memory_bytes=64 * 2**20,
        cpus=None,
        pids_limit=10,
    )
    argv = run_argv(request)
    assert argv[argv.index("--entrypoint") + 1] == json.dumps(["sh", "-c"])
    assert argv[-2:] == ["docker.io/library/x:latest", "echo hi"]
    assert argv[argv.index("--memory") + 1] == str(64 * 2**20)
    assert "--user" not in argv and "--read-only" not in argv


@pytest.mark.parametrize(
    ("pod_sc", "container_sc", "image_user", "message"),
    [
        ({"runAsNonRoot": True}, {}, "", "image has non-numeric user \\(root\\)"),
        ({"runAsNonRoot": True}, {}, "app", "non-numeric user \\(app\\)"),
        ({"runAsNonRoot": True}, {}, "0", "will run as root"),
        ({"runAsNonRoot": True, "runAsUser": 1000}, {"runAsUser": 0}, "65532", "will run as root"),
    ],
)
def test_run_as_non_root_is_verified_before_the_start(
    pod_sc: dict[str, Any], container_sc: dict[str, Any], image_user: str, message: str
) -> None:
    pod = {"spec": {"securityContext": pod_sc}}
    with pytest.raises(ContainerConfigError, match=message):
        security(pod, {"name": "c", "image": "x", "securityContext": container_sc}, image_user)


def test_run_as_non_root_passes_with_a_numeric_image_user() -> None:
    sec = security({"spec": {"securityContext": {"runAsNonRoot": True}}}, {"name": "c"}, "65532:65532")
    assert sec.user is None  # the image's own user stays
