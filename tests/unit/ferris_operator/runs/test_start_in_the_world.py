"""A run started end to end in the fake world: the watch event, a worker's attend, the gates,
the children made once and stamped, the record; and how deep the Job's create sits below the
worker's entry (the issue's bound: 8 frames)."""

from __future__ import annotations

import base64
import inspect
import json
from pathlib import Path
from typing import Any

from ferris_ciphertext.bundle import open_bundle
from ferris_operator import model, ownership
from ferris_operator.crypto.run_tokens import RunTokens
from ferris_operator.holders import Holders
from ferris_operator.runs import RunService
from ferris_operator.runs.handlers import RunHandlers
from ferris_operator.settings import Settings
from tests.unit.ferris_operator.fakes import PROOF, RING
from tests.unit.world import FakeKube, World, a_package, a_run


class DepthKube(FakeKube):
    """Notes how many frames below ``RunHandlers.attend`` each create of a Job is made."""

    def __init__(self) -> None:
        super().__init__()
        self.job_depths: list[int] = []

    def create_or_get(self, obj: Any) -> tuple[dict[str, Any], bool]:
        if obj.get("kind") == "Job":
            frames = [f.function for f in inspect.stack()]
            self.job_depths.append(frames.index("attend") + 1)  # attend ... this create, both counted
        return super().create_or_get(obj)


def started_world() -> tuple[World, RunHandlers]:
    world = World(kube=DepthKube())
    package = world.kube.put("FerrisPackage", a_package("nightly").uid("p-uid").ready().body)
    world.vault.ingest("team", "nightly", package["metadata"]["uid"], {"API_KEY": "s3cr3t-value"})
    settings = Settings(database_url="postgresql://x", master_key_dir=Path("."))
    runs = RunService(world.kube, world.vault, world.store, settings, RunTokens(dict(RING.keys), RING.active_id))
    return world, RunHandlers(runs, world.kube, Holders(world.kube, settings), settings.intervals, None)


def test_a_run_of_a_ready_package_gets_its_children_once_and_its_job_eight_frames_below_the_worker() -> None:
    world, handlers = started_world()
    run = world.kube.put("FerrisRun", a_run("r").uid("r-uid").body)
    assert handlers.run_event(None, run) is True  # the watch asks a worker for it
    handlers.attend("r-uid")
    content = [o for o in world.kube.created if o["metadata"]["labels"].get(model.LABEL_COMPONENT) == "package-content"]
    children = [o for o in world.kube.created if o not in content]
    made = {(o["kind"], o["metadata"]["name"]) for o in children}
    assert made == {("Secret", "r-key"), ("ConfigMap", "r-bundle"), ("Job", "r-run")}
    for obj in children:  # each controlled by the run and stamped (the key and bundle over their content)
        assert ownership.owned_by_run(obj, "r-uid", "team") and model.ANNOTATION_STAMP in obj["metadata"]["annotations"]
    [shared] = content  # the package's files: owned by the package, stamped for it, shared by its runs
    assert shared["metadata"]["ownerReferences"][0]["uid"] == "p-uid" and shared["immutable"] is True
    assert PROOF.made(shared, "ConfigMap", "content-of", "p-uid")
    [job] = [o for o in world.kube.created if o["kind"] == "Job"]
    assert PROOF.is_child(job, "Job", "r-uid", "team")
    record = world.store.get("r-uid")
    assert (
        record is not None
        and record.secrets_version == 1
        and [s.name for s in world.store.steps("r-uid")] == ["main.py"]
    )
    assert "s3cr3t-value" not in repr(world.kube.objects)  # sealed in the bundle, never in a plain field
    [depth] = world.kube.job_depths  # attend, _attend_run, guarded, its lambda, start, _create_children,
    assert depth <= 8, f"{depth} frames from the worker's entry to the Job's create; the bound is 8"  # _create_job
    # The same event again (a resync, a restart): nothing made twice.
    world.kube.created.clear()
    handlers.run_event("MODIFIED", world.kube.read("FerrisRun", "team", "r") or {})
    handlers.attend("r-uid")
    assert world.kube.created == [] and world.kube.status_of("FerrisRun", "team", "r")["phase"] == model.PENDING


def test_secret_params_kept_for_the_run_are_sealed_in_its_bundle_and_shown_masked_in_its_record() -> None:
    world, handlers = started_world()
    package = world.kube.objects[("FerrisPackage", "team", "nightly")]
    package["spec"]["paramsSchema"] = {"properties": {"token": {"type": "string", "secret": True}}}
    run = a_run("r").uid("r-uid").with_params(region="eu").body
    run["metadata"]["annotations"] = {model.ANNOTATION_SECRET_PARAMS: "token"}
    stored = world.kube.put("FerrisRun", run)
    world.vault.put_run_params("p-uid", "r-uid", {"token": "pr1v4te-c4n4ry"})
    world.vault.put_run_params("p-uid", "other-run", {"token": "n0t-th1s-one"})
    assert handlers.run_event(None, stored) is True
    handlers.attend("r-uid")
    key = world.kube.read("Secret", "team", "r-key")
    bundle = world.kube.read("ConfigMap", "team", "r-bundle")
    assert key is not None and bundle is not None
    opened = open_bundle(
        base64.b64decode(key["data"]["run.key"]), "r-uid", base64.b64decode(bundle["binaryData"]["bundle"])
    )
    assert opened.params == {"token": "pr1v4te-c4n4ry"}
    assert json.loads(bundle["data"]["run.json"])["params"] == {"region": "eu"}
    record = world.store.get("r-uid")
    assert record is not None and record.params == {"region": "eu", "token": "****"}
    assert "pr1v4te-c4n4ry" not in repr(world.kube.objects) and "pr1v4te-c4n4ry" not in repr(world.store.records)
