"""Every test the docs point to exists: ``tests/...py`` files and ``::test_name``s in docs/*.md, the README,
CONTRIBUTING and the changelog (a row of the parity checklist or of the fault matrix must name a real test)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([*ROOT.glob("docs/*.md"), ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md"])
#: A backticked reference: a file under tests/ or contract/, optionally ``::name``; or ``::name`` alone, which
#: belongs to the last file named before it on the same line.
REFERENCE = re.compile(r"`((?:tests|contract)/[\w/]+\.py)?((?:::\w+)?)(?:\[[^`]*\])?`")


def references() -> list[tuple[str, str, str | None]]:
    """(doc, file, test name or None) for every reference."""
    found = []
    for doc in DOCS:
        for line in doc.read_text(encoding="utf-8").splitlines():
            last: str | None = None
            for match in REFERENCE.finditer(line):
                path, name = match.group(1), match.group(2).removeprefix("::") or None
                if path is not None:
                    last = path
                elif name is None or last is None:
                    continue
                found.append((doc.name, path or last, name))
    return found


def test_the_docs_name_tests() -> None:
    assert len(references()) > 50


@pytest.mark.parametrize(("doc", "path", "name"), references())
def test_each_test_the_docs_name_exists(doc: str, path: str, name: str | None) -> None:
    source = ROOT / path
    assert source.is_file(), f"{doc} names {path}, which does not exist"
    if name is not None:
        assert re.search(rf"^\s*(?:async )?def {re.escape(name)}\b", source.read_text(), re.M), (
            f"{doc} names {path}::{name}, which is not defined there"
        )
