"""The whole suite runs with a throwaway ``HOME`` and ``CODEX_HOME``, so no engine it starts touches the machine's.

It also runs without ``CODEX_API_KEY`` and ``CODEX_URL`` (they fill ``CodexConfig.api_key`` and ``base_url``),
unless ``CODEX_TEST_LIVE`` asks for the live tests.

``OfflineEngine`` already gives its engines their own; this covers the rest: the engine binary run for its version
(``codex-actors doctor``) or its schema (field requirements, the protocol generator), a default ``Codex()``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

#: Set while the suite's throwaway home is in place (so a second conftest does not make another).
MARKER = "CODEX_ACTORS_TEST_HOME"


def isolate_home() -> Callable[[], None]:
    """Point ``HOME`` and ``CODEX_HOME`` at a fresh folder; return what removes it (a no-op if already done)."""
    if os.environ.get(MARKER):
        return lambda: None
    home = Path(tempfile.mkdtemp(prefix="codex-actors-test-home-")).resolve()
    (home / ".codex").mkdir()
    os.environ.update({"HOME": str(home), "CODEX_HOME": str(home / ".codex"), MARKER: str(home)})
    if not os.environ.get("CODEX_TEST_LIVE"):  # the environment layer of CodexConfig: not the machine's here
        for variable in ("CODEX_API_KEY", "CODEX_URL"):
            os.environ.pop(variable, None)
    return lambda: shutil.rmtree(home, ignore_errors=True)
