"""The official README quickstart against the real model service, through codex_actors.

Opt-in: runs only with ``CODEX_TEST_LIVE=1`` and an API key in ``OPENAI_API_KEY`` or ``CODEX_API_KEY`` (it costs
a real model turn). It logs in with ``codex.login_api_key`` in an isolated ``CODEX_HOME``, then runs the vendored
quickstart (``tests/support/official_examples/docs/readme_quickstart.py.txt``, imports rewritten to
``codex_actors``) unchanged in a fresh interpreter whose plain ``Codex()`` finds that home.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from codex_actors import Codex, CodexConfig
from tests.integration.test_official_examples import EXAMPLES, rewrite_imports

API_KEY = os.environ.get("OPENAI_API_KEY") or os.environ.get("CODEX_API_KEY")

pytestmark = pytest.mark.skipif(
    os.environ.get("CODEX_TEST_LIVE") != "1" or not API_KEY,
    reason="live test: set CODEX_TEST_LIVE=1 and OPENAI_API_KEY (or CODEX_API_KEY) to run it",
)


def test_readme_quickstart_against_the_real_model(tmp_path: Path) -> None:
    assert API_KEY is not None
    home = tmp_path / "codex-home"
    workspace = tmp_path / "workspace"
    home.mkdir()
    workspace.mkdir()
    (workspace / "README.md").write_text("# greet\n\nA tiny repository: `greet.py` prints a greeting.\n")
    (workspace / "greet.py").write_text('print("Hello, world!")\n')
    env = {"CODEX_HOME": str(home)}

    with Codex(config=CodexConfig(env=env, cwd=str(workspace))) as codex:
        codex.login_api_key(API_KEY)
        assert codex.account().account is not None, "login_api_key left no account"

    source = rewrite_imports((EXAMPLES / "docs" / "readme_quickstart.py.txt").read_text(encoding="utf-8"))
    done = subprocess.run(
        [sys.executable, "-c", source],
        cwd=workspace,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    answer = done.stdout.strip()
    assert answer and answer != "None", f"no final response:\n{done.stdout}\n{done.stderr}"
