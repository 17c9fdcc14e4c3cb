"""Reasons are spelled once (reasons.py), and docs/architecture.md lists exactly that catalogue."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from ferris_operator import reasons

REPO = Path(__file__).resolve().parents[3]
OPERATOR = REPO / "operator" / "ferris_operator"
# Words that are also condition types, phases or Kubernetes's own container reasons: they may
# appear as literals in those roles.
ALSO_OTHER_WORDS = {"Ready", "Pending", "Running", "Succeeded", "Cancelled", "ImagePullBackOff"}


def documented() -> dict[str, tuple[str, str]]:
    text = (REPO / "docs" / "architecture.md").read_text()
    section = text.split("## Conditions and reasons", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| (\S+) \| (.+) \|$", section, re.MULTILINE)
    return {name: (on, meaning) for name, on, meaning in rows}


def test_the_docs_table_is_the_catalogue() -> None:
    expected = {name: (entry.on, entry.meaning) for name, entry in reasons.CATALOGUE.items()}
    assert documented() == expected


def test_the_catalogue_is_not_empty_and_names_are_camel_case() -> None:
    assert len(reasons.CATALOGUE) > 30
    assert all(re.fullmatch(r"(?:[A-Z][a-z]+)+", name) for name in reasons.CATALOGUE)


def test_no_module_spells_a_reason_itself() -> None:
    spelled: list[str] = []
    for path in sorted(OPERATOR.rglob("*.py")):
        if path.name == "reasons.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Constant)
                and node.value in reasons.CATALOGUE
                and node.value not in ALSO_OTHER_WORDS
            ):
                spelled.append(f"{path.relative_to(REPO)}:{node.lineno} {node.value}")
    assert spelled == []
