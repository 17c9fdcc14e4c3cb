"""docs/architecture.md names every module in its components table, and every test its threat
model names exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = [
    "operator/ferris_operator",
    "ciphertext/ferris_ciphertext",
    "wire/ferris_wire",
    "runner-image/ferris_runner",
    "devcluster/ferris_devcluster",
]


def components() -> str:
    text = (REPO / "docs" / "architecture.md").read_text()
    return text.split("## Components", 1)[1].split("\n## ", 1)[0]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_is_named(package: str) -> None:
    root = REPO / package
    modules = [p.relative_to(root).as_posix() for p in sorted(root.rglob("*.py")) if p.name != "__init__.py"]
    assert modules
    section = components()
    assert [m for m in modules if f"`{m}`" not in section] == []


def test_every_folder_of_the_operator_is_in_the_rooms_table() -> None:
    root = REPO / "operator" / "ferris_operator"
    folders = sorted(p.parent.relative_to(root).as_posix() for p in root.glob("*/__init__.py"))
    section = components().split("**Rooms.**", 1)[1]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    named = {name for row in rows for name in re.findall(r"`(\w+)/`", row.split(" | ")[0])}
    assert len(folders) >= 10
    assert [f for f in folders if f not in named] == []


def test_every_test_the_threat_model_names_exists() -> None:
    """The threat model's role-by-role table is backed by named tests: each must be there."""
    text = (REPO / "docs" / "architecture.md").read_text()
    section = text.split("### Role by role", 1)[1].split("\n## ", 1)[0]
    named = re.findall(r"`(tests/[\w/]+\.py)::(test_\w+)`", section)
    assert len(named) >= 20
    missing = [
        f"{path}::{name}"
        for path, name in named
        if not re.search(rf"^(async )?def {name}\(", (REPO / path).read_text(), re.MULTILINE)
    ]
    assert missing == []
