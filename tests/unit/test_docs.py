"""The formats are documented inside the repository: every field of the published JSON Schemas
is named in docs/formats.md, and the README links only inside the repository."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORMATS = (ROOT / "docs" / "formats.md").read_text(encoding="utf-8")


def field_names(node: Any) -> set[str]:
    if isinstance(node, dict):
        names = set(node.get("properties", {}))
        return names.union(*(field_names(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(field_names(v) for v in node))
    return set()


@pytest.mark.parametrize(
    "schema", sorted((ROOT / "docs" / "schemas").glob("*.schema.json")), ids=lambda p: p.name
)
def test_every_schema_field_is_documented(schema: Path) -> None:
    names = field_names(json.loads(schema.read_text(encoding="utf-8")))
    assert names, schema
    missing = sorted(n for n in names if f"`{n}`" not in FORMATS and f'"{n}"' not in FORMATS)
    assert missing == [], f"docs/formats.md does not name {missing}"


def test_the_readme_and_docs_link_only_inside_the_repository() -> None:
    for path in (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\.\./shared/", text), f"{path.name} points outside the repository"


def test_the_architecture_ends_with_a_one_screen_import_map() -> None:
    """The layers' import rules, last in docs/architecture.md (tests/unit/test_import_rules.py
    checks them)."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    last = text[text.rindex("\n## ") :]
    assert last.startswith("\n## Import map") and len(last.strip().splitlines()) <= 40
