"""Fields that need a recent engine: refused before sending when the engine is too old (as the official SDK does).

``toolOutput``, ``turnTrigger`` and ``serviceTierForTurn`` on ``turn/start``, and ``excludeTurns`` on
``thread/resume``/``thread/fork``, need codex-cli 0.151.0 or newer. The engine's version comes from its
``initialize`` answer. An unversioned build (``0.0.0``, a source checkout) is asked for its schema instead.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

from ._binary import build_launch
from ._config import CodexConfig
from .errors import CodexError

__all__ = ["MINIMUM_RUNTIME_VERSION", "FieldRequirements", "runtime_version"]

MINIMUM_RUNTIME_VERSION = "0.151.0"
REQUIRED_VERSION_FIELDS: dict[str, tuple[str, ...]] = {
    "turn/start": ("toolOutput", "turnTrigger", "serviceTierForTurn"),
    "thread/resume": ("excludeTurns",),
    "thread/fork": ("excludeTurns",),
}
_SCHEMA_NAMES = {
    "turn/start": "TurnStartParams",
    "thread/resume": "ThreadResumeParams",
    "thread/fork": "ThreadForkParams",
}
_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-alpha\.(\d+)\.(\d+))?$")


def runtime_version(server_version: str | None) -> str | None:
    """The engine version from ``serverInfo.version`` (its first word), e.g. ``"0.163.0"``."""
    if not server_version or not server_version.strip():
        return None
    return server_version.split()[0]


def _require(version: str | None) -> None:
    match = _VERSION.match(version or "")
    if match is not None:
        release = tuple(int(part) for part in match.group(1, 2, 3))
        minimum = tuple(int(part) for part in MINIMUM_RUNTIME_VERSION.split("."))
        is_prerelease = match.group(4) is not None
        if release > minimum or (release == minimum and not is_prerelease):
            return
    raise ValueError(
        f"Codex CLI {MINIMUM_RUNTIME_VERSION} or newer is required; reported version is {version or 'unknown'!r}"
    )


class FieldRequirements:
    """Checks the gated fields of one runtime's requests."""

    def __init__(self, config: CodexConfig, version: str | None) -> None:
        self._config = config
        self.version = version

    @cached_property
    def _checkout_fields(self) -> dict[str, frozenset[str]]:
        if self._config.launch_args_override is not None:
            raise ValueError("Cannot verify an unversioned CLI with a custom launch command")
        launch = build_launch(self._config)
        try:
            with tempfile.TemporaryDirectory(prefix="codex-actors-schema-") as directory:
                subprocess.run(
                    [*launch.argv[:-2], "generate-json-schema", "--experimental", "--out", directory],
                    cwd=launch.cwd,
                    env=launch.env,
                    capture_output=True,
                    check=True,
                    timeout=30,
                )
                fields: dict[str, frozenset[str]] = {}
                for method, name in _SCHEMA_NAMES.items():
                    schema = json.loads((Path(directory) / "v2" / f"{name}.json").read_text())
                    properties = schema.get("properties") if isinstance(schema, dict) else None
                    if not isinstance(properties, dict):
                        raise ValueError(f"Missing properties in {name} schema")
                    fields[method] = frozenset(properties)
                return fields
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            raise ValueError("Could not inspect the unversioned CLI's experimental schema") from exc

    def check(self, method: str, params: Mapping[str, Any] | None) -> None:
        """Raise ``CodexError`` (nothing is sent) if ``params`` use a field this engine may not support."""
        supplied = [
            name for name in REQUIRED_VERSION_FIELDS.get(method, ()) if (params or {}).get(name) is not None
        ]
        if not supplied:
            return
        try:
            if self.version == "0.0.0":
                if missing := set(supplied) - self._checkout_fields[method]:
                    raise ValueError(f"The checkout does not support {', '.join(sorted(missing))}")
            else:
                _require(self.version)
        except ValueError as exc:
            hint = "Configure CodexConfig.codex_bin with a supported CLI."
            raise CodexError(f"{method} with {', '.join(supplied)}: {exc}. {hint}") from exc
