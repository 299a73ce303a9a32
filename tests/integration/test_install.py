"""The README's install is usable by a user's own tools, not just importable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

USER_PROGRAM = """\
from codex_actors import Codex, TurnResult


def answer(codex: Codex) -> str | None:
    result: TurnResult = codex.thread_start().run("hi")
    return result.final_response


reveal_type(Codex)
"""


def test_mypy_strict_on_a_users_program_finds_the_installed_package(tmp_path: Path) -> None:
    """Setuptools' editable installs are an import hook that type checkers cannot see; ours is a path entry."""
    program = tmp_path / "user_program.py"
    program.write_text(USER_PROGRAM, encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--python-executable",
            sys.executable,
            program.name,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "codex_actors" in done.stdout and '"Any"' not in done.stdout, done.stdout
