"""``proxied``: a config that runs the real offline engine behind ``bin/fault-proxy``, with one fault added."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

from codex_actors import CodexConfig
from codex_actors._binary import build_launch
from codex_actors.testing import OfflineEngine

PROXY = Path(__file__).resolve().parents[2] / "bin" / "fault-proxy"


def proxied(offline: OfflineEngine, fault: str, **fields: Any) -> CodexConfig:
    """``offline``'s config, its engine started behind the fault proxy with ``fault`` (see bin/fault-proxy)."""
    launch = build_launch(offline.config)
    env = {**(offline.config.env or {}), "PATH": launch.env["PATH"]}
    env["FAULT_PROXY_STATE"] = str(offline.root / f"proxy-state-{fault}")
    return dataclasses.replace(
        offline.config, launch_args_override=(sys.executable, str(PROXY), fault, *launch.argv), env=env, **fields
    )
