"""Every ```python block in the README, CONTRIBUTING and docs/, and the docstring examples of the public modules
that have one, runs as written in a fresh interpreter. (Excerpts that only run inside a harness, or fragments of a
file, are fenced ```py or ```diff instead.)"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import codex_actors.approvals
import codex_actors.files
import codex_actors.telemetry
import codex_actors.testing

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def examples() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for path in [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for index, match in enumerate(BLOCK.finditer(path.read_text(encoding="utf-8"))):
            found.append((f"{path.relative_to(ROOT)}#{index + 1}", match.group(1)))
    for module in (codex_actors.testing, codex_actors.approvals, codex_actors.telemetry, codex_actors.files):
        docstring = module.__doc__ or ""
        marker = "Example::\n" if "Example::\n" in docstring else "::\n"
        found.append((f"{module.__name__} docstring", textwrap.dedent(docstring.split(marker, 1)[1])))
    return found


@pytest.mark.parametrize(("where", "code"), examples(), ids=[where for where, _ in examples()])
def test_example_runs(where: str, code: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{where} failed:\n{done.stdout}\n{done.stderr}"
