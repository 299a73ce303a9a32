"""The offline engine is hermetic: nothing of the machine's own shell setup runs inside it.

The engine runs the model's commands as login shells (``bash -lc``), which read ``$HOME``'s profile. A machine's
profile may start anything (``pyenv rehash`` children that outlive the engine, on one of ours), so the offline
engine gets a throwaway ``HOME`` and passes only a core environment to its shell.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from codex_actors import ApprovalMode, Codex, Sandbox
from codex_actors._protocol.generated import CommandExecutionThreadItem
from codex_actors.testing import OfflineEngine, exec_command, message, reply

PROBE = "echo HOME=$HOME; echo SECRET=${CODEX_ACTORS_PROBE_SECRET:-unset}; echo DONE"


def _machine_home(tmp_path: Path) -> Path:
    """A stand-in for the user's real home whose every startup file leaves a trace when it runs."""
    home = tmp_path / "machine-home"
    home.mkdir()
    for name in (".profile", ".bash_profile", ".bash_login", ".bashrc"):
        (home / name).write_text(f"touch {home}/ran{name}\n", encoding="utf-8")
    (home / "bash_env").write_text(f"touch {home}/ran-bash-env\n", encoding="utf-8")
    return home


def test_the_engine_shell_sees_a_throwaway_home_and_none_of_the_machines_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    machine = _machine_home(tmp_path)
    monkeypatch.setenv("HOME", str(machine))
    monkeypatch.setenv("BASH_ENV", str(machine / "bash_env"))
    monkeypatch.setenv("CODEX_ACTORS_PROBE_SECRET", "leaked")
    with OfflineEngine(reply(exec_command(PROBE)), message("ok")) as offline:
        with Codex(offline.config) as codex:
            thread = codex.thread_start(approval_mode=ApprovalMode.deny_all, sandbox=Sandbox.workspace_write)
            result = thread.run("probe")
        (command,) = [item for item in result.items if isinstance(item, CommandExecutionThreadItem)]
        output = command.aggregated_output or ""
        assert "DONE" in output, output
        assert f"HOME={offline.home}" in output
        assert offline.home.is_dir() and offline.root in offline.home.parents
        assert "SECRET=unset" in output
    assert sorted(path.name for path in machine.iterdir() if path.name.startswith("ran")) == []


def test_offline_env_names_the_throwaway_home(tmp_path: Path) -> None:
    with OfflineEngine(root=tmp_path / "root") as offline:
        assert offline.env["HOME"] == str(offline.home)
        assert offline.config.env is not None and offline.config.env["HOME"] == str(offline.home)
        assert offline.home == tmp_path / "root" / "codex-home" / "shell-home"
