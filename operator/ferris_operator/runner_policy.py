"""The operator-level runner policy: what a package may set in ``spec.runner``. Pure.

A package's ``runner`` fields are copied into its run's pod; whoever may create packages would
otherwise choose any image, schedule onto control-plane or dedicated nodes, run as any
ServiceAccount of the namespace, or preload code into the runner with ``LD_PRELOAD`` or
``PYTHONPATH``. The platform team sets the policy in the chart (``runnerPolicy``); a run
whose package breaks it fails at start with ``RunnerPolicyViolation``, naming the field and
the chart value that would allow it."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from ferris_operator import reasons
from ferris_operator.bodies import RunnerSpec
from ferris_operator.problems import Problem

DEFAULT_FORBIDDEN_ENV = ("LD_*", "PYTHON*", "BASH_ENV", "ENV", "PATH", "SHELLOPTS", "PS4", "PERL5*", "NODE_OPTIONS")
REASON = reasons.RUNNER_POLICY_VIOLATION


def repository(image: str) -> str:
    """``registry/repo:tag@sha256:...`` -> ``registry/repo``."""
    name = image.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    return (head + "/" if head else "") + last.split(":", 1)[0]


@dataclass(frozen=True)
class RunnerPolicy:
    allowed_images: tuple[str, ...] = ()  # globs over the whole reference; empty: the default runner's repository
    allow_scheduling: bool = False  # nodeSelector, tolerations
    allow_service_account: bool = False
    forbidden_env: tuple[str, ...] = DEFAULT_FORBIDDEN_ENV

    def image_allowed(self, image: str, default_image: str) -> bool:
        if not self.allowed_images:
            return repository(image) == repository(default_image)
        return any(fnmatch.fnmatchcase(image, pattern) for pattern in self.allowed_images)

    def check(self, runner: RunnerSpec, default_image: str) -> None:
        """Raise Problem when ``runner`` (a package's ``spec.runner``) breaks the policy."""
        image = runner.get("image")
        if image and not self.image_allowed(image, default_image):
            allowed = ", ".join(self.allowed_images) or f"{repository(default_image)} (any tag)"
            raise Problem(
                REASON,
                f"spec.runner.image {image!r} is not allowed on this cluster (allowed: {allowed}); "
                "use an allowed image, or ask the platform team to add it to runnerPolicy.allowedImages",
            )
        for field in ("nodeSelector", "tolerations"):
            if runner.get(field) and not self.allow_scheduling:
                raise Problem(
                    REASON,
                    f"spec.runner.{field} may not be set on this cluster; remove it, or ask the platform team "
                    "to set runnerPolicy.allowScheduling",
                )
        if runner.get("serviceAccountName") and not self.allow_service_account:
            raise Problem(
                REASON,
                "spec.runner.serviceAccountName may not be set on this cluster (runner pods run without API "
                "credentials); remove it, or ask the platform team to set runnerPolicy.allowServiceAccount",
            )
        for i, entry in enumerate(runner.get("env") or []):
            name = str(entry.get("name", ""))
            if any(fnmatch.fnmatchcase(name, pattern) for pattern in self.forbidden_env):
                raise Problem(
                    REASON,
                    f"spec.runner.env[{i}].name {name} is forbidden on this cluster (it changes what the runner "
                    f"loads or executes; forbidden: {', '.join(self.forbidden_env)}); remove it",
                )
