"""Package content objects: marked used by the runs that mount them, swept an hour after their
last use once no active run mounts them, never when a run touched them meanwhile, and never
when the operator cannot prove it made them."""

from __future__ import annotations

import copy
import datetime
from typing import Any

from ferris_operator import model
from ferris_operator.builders import package_content
from tests.unit.ferris_operator.fakes import PROOF
from tests.unit.ferris_operator.runs.test_start_in_the_world import started_world
from tests.unit.world import FakeKube, a_run

HOUR = datetime.timedelta(hours=1)


def contents(kube: FakeKube) -> dict[str, dict[str, Any]]:
    return {
        name: body
        for (kind, _, name), body in kube.objects.items()
        if kind == "ConfigMap" and body["metadata"]["labels"].get(model.LABEL_COMPONENT) == model.COMPONENT_CONTENT
    }


def started(world, handlers, name: str) -> None:  # type: ignore[no-untyped-def]
    run = world.kube.put("FerrisRun", a_run(name).uid(f"{name}-uid").body)
    handlers.run_event(None, run)
    handlers.attend(f"{name}-uid")


def test_content_an_active_run_mounts_stays_and_content_unused_for_an_hour_goes() -> None:
    world, handlers = started_world()
    started(world, handlers, "r1")
    [name] = contents(world.kube)
    sweep = handlers.runs.content_sweep
    later = model.utcnow() + 2 * HOUR
    assert sweep.sweep(later) == 0, "the run is active: what it mounts stays"
    world.store.finish("r1-uid", model.SUCCEEDED, "Completed", "done")
    assert sweep.sweep(model.utcnow() + HOUR / 2) == 0, "used half an hour ago: stays"
    assert sweep.sweep(later) == 1 and name not in contents(world.kube)
    started(world, handlers, "r2")  # the next run of the same content makes it again
    assert name in contents(world.kube)


def test_a_run_marks_an_object_it_uses_and_a_sweep_that_listed_it_before_deletes_nothing() -> None:
    world, handlers = started_world()
    started(world, handlers, "r1")
    world.store.finish("r1-uid", model.SUCCEEDED, "Completed", "done")
    [name] = contents(world.kube)
    body = world.kube.objects[("ConfigMap", "team", name)]
    old = model.timestamp(model.utcnow() - 2 * HOUR)
    body["metadata"]["annotations"][package_content.ANNOTATION_LAST_USED] = old
    listed = world.kube.content_metadata(())  # the sweep lists: unused for two hours

    class ListedBefore:  # ... and a run starts before it deletes
        def __getattr__(self, attribute: str) -> object:
            return getattr(world.kube, attribute)

        def content_metadata(self, namespaces: tuple[str, ...]) -> list[dict[str, object]]:
            started(world, handlers, "r2")
            world.store.finish("r2-uid", model.SUCCEEDED, "Completed", "done")
            return copy.deepcopy(listed)

    sweep = handlers.runs.content_sweep
    sweep.kube = ListedBefore()
    assert sweep.sweep() == 0 and name in contents(world.kube), "deleted under a run that had just marked it"
    marked = contents(world.kube)[name]["metadata"]["annotations"][package_content.ANNOTATION_LAST_USED]
    assert model.parse_timestamp(marked) > model.utcnow() - datetime.timedelta(minutes=1)


def test_an_object_labelled_as_content_that_the_operator_did_not_stamp_is_never_deleted() -> None:
    world, handlers = started_world()
    planted = {
        "metadata": {
            "name": "mine",
            "namespace": "team",
            "labels": {model.LABEL_COMPONENT: model.COMPONENT_CONTENT},
            "ownerReferences": [{"kind": "FerrisPackage", "uid": "p-uid", "controller": True, "name": "nightly"}],
            "creationTimestamp": model.timestamp(model.utcnow() - 3 * HOUR),
            "annotations": {model.ANNOTATION_STAMP: "fs1.k1." + "A" * 43},
        },
        "data": {"x": "a tenant's own"},
    }
    world.kube.put("ConfigMap", planted)
    assert handlers.runs.content_sweep.sweep(model.utcnow() + 2 * HOUR) == 0
    assert "mine" in contents(world.kube)
    assert not PROOF.made(planted, "ConfigMap", package_content.STAMP_PURPOSE, "p-uid")


def test_a_stamped_object_holding_other_parts_is_foreign_and_the_run_fails_closed() -> None:
    world, handlers = started_world()
    started(world, handlers, "r1")
    [name] = contents(world.kube)
    body = world.kube.objects[("ConfigMap", "team", name)]
    del world.kube.objects[("ConfigMap", "team", name)]  # a tenant deletes it, and makes it again with
    forged = copy.deepcopy(body)  # the operator's stamp copied over, other code under the same key
    forged["metadata"]["uid"] = "forged-uid"
    forged["data"] = {key: "print('other code')" for key in body["data"]}
    world.kube.put("ConfigMap", forged)
    started(world, handlers, "r2")
    status = world.kube.status_of("FerrisRun", "team", "r2")
    assert status["phase"] == model.FAILED and status["conditions"][-1]["reason"] == "ForeignObject", status
    assert ("Job", "team", "r2-run") not in world.kube.objects
