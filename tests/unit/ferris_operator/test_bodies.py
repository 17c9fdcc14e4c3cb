"""Every typed body matches its CRD's schema, both ways: each field a property of the same type,
each property a field (free-form objects and ``metadata`` aside)."""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints, is_typeddict

import pytest
import yaml

from ferris_operator import bodies

CRDS = Path(__file__).resolve().parents[3] / "crds"
BODIES = {
    "FerrisPackage": bodies.PackageBody,
    "FerrisRun": bodies.RunBody,
    "FerrisTrigger": bodies.TriggerBody,
    "FerrisEventSource": bodies.EventSourceBody,
    "FerrisProjectSecrets": bodies.ProjectSecretsBody,
    "FerrisPlatformSecrets": bodies.PlatformSecretsBody,
}
SCALARS = {str: "string", int: "integer", bool: "boolean"}


def schemas() -> dict[str, dict[str, Any]]:
    found = {}
    for path in CRDS.glob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        [version] = [v for v in crd["spec"]["versions"] if v["storage"]]
        found[crd["spec"]["names"]["kind"]] = version["schema"]["openAPIV3Schema"]
    return found


def mismatches(hint: Any, schema: dict[str, Any], where: str) -> list[str]:
    """What differs between a field's type and its schema, as ``where: what`` lines."""
    if hint is Any:
        return []
    if is_typeddict(hint):
        if schema.get("type") != "object":
            return [f"{where}: {hint.__name__} but the schema says {schema.get('type')}"]
        fields = get_type_hints(hint)
        properties = schema.get("properties") or {}
        found = [f"{where}.{name}: not in the schema" for name in sorted(set(fields) - set(properties))]
        found += [f"{where}.{name}: no field in {hint.__name__}" for name in sorted(set(properties) - set(fields))]
        for name in sorted(set(fields) & set(properties)):
            found += mismatches(fields[name], properties[name], f"{where}.{name}")
        return found
    origin = get_origin(hint)
    if origin is list:
        if schema.get("type") != "array":
            return [f"{where}: a list but the schema says {schema.get('type')}"]
        return mismatches(get_args(hint)[0], schema.get("items") or {}, f"{where}[]")
    if origin is dict:
        return [] if schema.get("type") == "object" else [f"{where}: a dict but the schema says {schema.get('type')}"]
    if origin in (typing.Union, types.UnionType):
        return [f"{where}: a union, which no schema type is"]
    expected = SCALARS.get(hint)
    return [] if expected == schema.get("type") else [f"{where}: {hint} but the schema says {schema.get('type')}"]


@pytest.mark.parametrize("kind", sorted(BODIES))
def test_each_body_is_its_crds_schema(kind: str) -> None:
    body, schema = BODIES[kind], schemas()[kind]
    fields = get_type_hints(body)
    assert set(fields) == {"apiVersion", "kind", "metadata", "spec", "status"}
    problems = []
    for part in ("spec", "status"):
        problems += mismatches(fields[part], schema["properties"][part], f"{kind}.{part}")
    assert problems == []


def test_every_kind_has_a_body() -> None:
    assert set(schemas()) == set(BODIES)


def test_a_field_the_schema_lacks_is_named() -> None:
    class Drifted(bodies.RunSpec, total=False):
        retriesLeft: int

    schema = schemas()["FerrisRun"]["properties"]["spec"]
    assert mismatches(Drifted, schema, "FerrisRun.spec") == ["FerrisRun.spec.retriesLeft: not in the schema"]
    assert mismatches(bodies.Step, schema, "x") != []  # another shape altogether
