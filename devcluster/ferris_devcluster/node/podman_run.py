"""Pure builders for the container node: a pod's container as a ``podman run`` command line,
as a kubelet's runtime would start it (image reference, user, security context, limits,
volumes, command and args)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ferris_devcluster.node.volumes import Mount

# Names podman itself needs from its environment: a container's variable of that name is
# passed on the command line instead of through podman's environment.
PODMAN_OWN_ENV = frozenset({"PATH", "HOME", "TMPDIR", "CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF", "XDG_RUNTIME_DIR"})
BINARY_SUFFIXES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
DECIMAL_SUFFIXES = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18, "": 1}
QUANTITY = re.compile(r"^([0-9.]+(?:[eE][-+]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$")


class ContainerConfigError(Exception):
    """CreateContainerConfigError: the container cannot be started as specified."""


def normalize_image(reference: str) -> str:
    """A pod's image reference as a container runtime reads it: ``busybox`` is
    ``docker.io/library/busybox:latest``; a tag or digest given is kept."""
    name, at, digest = reference.partition("@")
    first, slash, _ = name.partition("/")
    if not slash or ("." not in first and ":" not in first and first != "localhost"):
        name = f"docker.io/{name}" if slash else f"docker.io/library/{name}"
    last = name.rsplit("/", 1)[-1]
    if not at and ":" not in last:
        name += ":latest"
    return f"{name}{at}{digest}"


def quantity(value: str | int | float) -> Decimal:
    """A Kubernetes resource quantity (``64Mi``, ``500m``, ``1e9``) as a number."""
    match = QUANTITY.match(str(value).strip())
    if not match:
        raise ContainerConfigError(f"resource quantity {value!r} is not valid")
    number, suffix = Decimal(match.group(1)), match.group(2) or ""
    if suffix == "m":
        return number / 1000
    return number * (BINARY_SUFFIXES.get(suffix) or DECIMAL_SUFFIXES[suffix])


@dataclass(frozen=True)
class Limits:
    memory_bytes: int | None
    cpus: Decimal | None


def limits(container: dict[str, Any]) -> Limits:
    given = (container.get("resources") or {}).get("limits") or {}
    memory = int(quantity(given["memory"])) if "memory" in given else None
    cpus = quantity(given["cpu"]) if "cpu" in given else None
    return Limits(memory, cpus)


@dataclass(frozen=True)
class Security:
    """The container's security context merged over the pod's, as a kubelet applies it."""

    user: int | None
    group: int | None
    extra_groups: tuple[int, ...]
    read_only_root: bool
    no_new_privileges: bool
    privileged: bool
    cap_add: tuple[str, ...]
    cap_drop: tuple[str, ...]


def security(pod: dict[str, Any], container: dict[str, Any], image_user: str) -> Security:
    pod_sc = pod["spec"].get("securityContext") or {}
    sc = container.get("securityContext") or {}

    def field(name: str) -> Any:
        return sc[name] if name in sc else pod_sc.get(name)

    user = field("runAsUser")
    if field("runAsNonRoot"):
        image_uid = image_user.split(":", 1)[0]
        if user is None and not image_uid.isdigit():
            raise ContainerConfigError(
                f"container has runAsNonRoot and image has non-numeric user ({image_uid or 'root'}), "
                "cannot verify user is non-root"
            )
        if (user if user is not None else int(image_uid)) == 0:
            raise ContainerConfigError("container has runAsNonRoot and image will run as root")
    groups = [int(g) for g in pod_sc.get("supplementalGroups") or []]
    if pod_sc.get("fsGroup") is not None:
        groups.append(int(pod_sc["fsGroup"]))
    capabilities = sc.get("capabilities") or {}
    privileged = bool(sc.get("privileged"))
    return Security(
        user=user,
        group=field("runAsGroup"),
        extra_groups=tuple(dict.fromkeys(groups)),
        read_only_root=bool(sc.get("readOnlyRootFilesystem")),
        no_new_privileges=sc.get("allowPrivilegeEscalation") is False and not privileged,
        privileged=privileged,
        cap_add=tuple(capabilities.get("add") or []),
        cap_drop=tuple(capabilities.get("drop") or []),
    )


def security_flags(sec: Security) -> list[str]:
    flags: list[str] = []
    if sec.user is not None:
        flags += ["--user", f"{sec.user}:{sec.group}" if sec.group is not None else str(sec.user)]
    elif sec.group is not None:
        raise ContainerConfigError("runAsGroup without runAsUser is not supported by this node")
    for group in sec.extra_groups:
        flags += ["--group-add", str(group)]
    if sec.read_only_root:
        # Kubernetes mounts nothing writable over /tmp or /run by itself; podman would.
        flags += ["--read-only", "--read-only-tmpfs=false"]
    if sec.privileged:
        flags.append("--privileged")
    for cap in sec.cap_drop:
        flags += ["--cap-drop", cap]
    for cap in sec.cap_add:
        flags += ["--cap-add", cap]
    if sec.no_new_privileges:
        flags += ["--security-opt", "no-new-privileges"]
    return flags


@dataclass(frozen=True)
class RunRequest:
    name: str
    image: str  # normalized
    container: dict[str, Any]
    security: Security
    mounts: tuple[Mount, ...]
    env: dict[str, str]
    labels: dict[str, str]
    hostname: str
    cgroup_parent: str | None
    memory_bytes: int | None  # set on the container only when no cgroup parent carries it
    cpus: Decimal | None
    pids_limit: int


def passed_env(env: dict[str, str]) -> dict[str, str]:
    """What podman's own environment carries for ``-e NAME`` (see ``run_argv``)."""
    return {key: value for key, value in env.items() if key not in PODMAN_OWN_ENV}


def run_argv(request: RunRequest) -> list[str]:
    """``podman run`` for one container, attached (its output is the container's log). The
    environment's values stay off the command line (``-e NAME`` takes them from podman's own
    environment), but for the few names podman needs itself."""
    container = request.container
    argv = [
        "podman",
        "run",
        "--name",
        request.name,
        "--pull",
        "never",
        "--network",
        "host",
        "--hostname",
        request.hostname,
        "--log-driver",
        "none",
        "--pids-limit",
        str(request.pids_limit),
    ]
    for key, value in sorted(request.labels.items()):
        argv += ["--label", f"{key}={value}"]
    if request.cgroup_parent:
        argv += ["--cgroup-parent", request.cgroup_parent]
    if request.memory_bytes is not None:
        argv += ["--memory", str(request.memory_bytes), "--memory-swap", str(request.memory_bytes)]
    if request.cpus is not None:
        argv += ["--cpus", str(request.cpus)]
    argv += security_flags(request.security)
    for mount in request.mounts:
        argv += ["--volume", f"{mount.source}:{mount.target}:{'ro' if mount.read_only else 'rw'}"]
    for key, value in request.env.items():
        argv += ["--env", f"{key}={value}" if key in PODMAN_OWN_ENV else key]
    if container.get("workingDir"):
        argv += ["--workdir", container["workingDir"]]
    command = container.get("command")
    if command:
        argv += ["--entrypoint", json.dumps(command)]
    argv.append(request.image)
    argv += list(container.get("args") or [])
    return argv
