"""Runtime-gated fields: refused before sending when the engine is older than 0.151.0."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from codex_actors._config import CodexConfig
from codex_actors._engine_requirements import FieldRequirements, runtime_version
from codex_actors.errors import CodexError


def test_runtime_version_is_the_first_word() -> None:
    assert runtime_version("0.163.0 (Debian 12; x86_64) xterm") == "0.163.0"
    assert runtime_version("") is None
    assert runtime_version(None) is None


@pytest.mark.parametrize("version", ["0.151.0", "0.163.0", "1.0.0", "0.152.0-alpha.1.2"])
def test_recent_engines_pass(version: str) -> None:
    FieldRequirements(CodexConfig(), version).check("turn/start", {"toolOutput": {"name": "x"}, "input": []})


@pytest.mark.parametrize("version", ["0.150.0", "0.151.0-alpha.1.2", "garbage", None])
def test_old_or_unknown_engines_are_refused_before_sending(version: str | None) -> None:
    with pytest.raises(CodexError) as info:
        FieldRequirements(CodexConfig(), version).check("thread/resume", {"threadId": "t", "excludeTurns": True})
    assert str(info.value).startswith("thread/resume with excludeTurns: Codex CLI 0.151.0 or newer is required")
    assert str(info.value).endswith("Configure CodexConfig.codex_bin with a supported CLI.")


def test_ungated_params_are_never_checked() -> None:
    FieldRequirements(CodexConfig(), "0.1.0").check("turn/start", {"input": [], "turnTrigger": None})
    FieldRequirements(CodexConfig(), "0.1.0").check("thread/read", {"threadId": "t"})


def test_unversioned_checkout_is_asked_for_its_schema(tmp_path: Path) -> None:
    requirements = FieldRequirements(CodexConfig(), "0.0.0")  # the pinned engine's schema has every gated field
    requirements.check("turn/start", {"turnTrigger": "cron", "serviceTierForTurn": "x", "toolOutput": {}})
    fake = tmp_path / "codex"
    fake.write_text(f"#!{sys.executable}\nimport sys; sys.exit(1)\n")
    fake.chmod(0o755)
    with pytest.raises(CodexError, match="Could not inspect the unversioned CLI's experimental schema"):
        FieldRequirements(CodexConfig(codex_bin=str(fake)), "0.0.0").check("thread/fork", {"excludeTurns": False})
    with pytest.raises(CodexError, match="Cannot verify an unversioned CLI with a custom launch command"):
        FieldRequirements(CodexConfig(launch_args_override=("x",)), "0.0.0").check(
            "thread/fork", {"excludeTurns": False}
        )
