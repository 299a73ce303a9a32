"""Finding the engine and building its launch, as the official SDK does."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from codex_actors._binary import (
    ENGINE_PIN,
    EngineInfo,
    build_launch,
    engine_info,
    pinned_engine_path,
    resolve_engine_binary,
)
from codex_actors._config import CodexConfig


def test_default_launch_uses_the_pinned_binary_and_prepends_its_path_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    launch = build_launch(CodexConfig(config_overrides=("a=1", 'b.c="x"'), cwd="/tmp", env={"K": "v"}))
    binary = pinned_engine_path()
    assert launch.argv == (
        str(binary),
        "--config",
        "a=1",
        "--config",
        'b.c="x"',
        "app-server",
        "--listen",
        "stdio://",
    )
    assert launch.cwd == "/tmp"
    assert launch.env["K"] == "v"
    first, *rest = launch.env["PATH"].split(os.pathsep)
    assert first.endswith("codex-path")
    assert rest == ["/usr/bin", "/bin"]


def test_env_overlays_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEP_ME", "1")
    monkeypatch.setenv("OVERRIDE_ME", "old")
    env = build_launch(CodexConfig(env={"OVERRIDE_ME": "new"})).env
    assert (env["KEEP_ME"], env["OVERRIDE_ME"]) == ("1", "new")


def test_explicit_binary_gets_no_path_prepend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin")
    exe = tmp_path / "codex"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    launch = build_launch(CodexConfig(codex_bin=str(exe)))
    assert launch.argv == (str(exe), "app-server", "--listen", "stdio://")
    assert launch.env["PATH"] == "/usr/bin"


def test_launch_args_override_is_verbatim() -> None:
    launch = build_launch(
        CodexConfig(launch_args_override=("x", "y"), codex_bin="/nope", config_overrides=("a=1",))
    )
    assert launch.argv == ("x", "y")


def test_missing_or_non_executable_binary(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"^Codex binary not found at /nope/codex\. Set CodexConfig"):
        resolve_engine_binary(CodexConfig(codex_bin="/nope/codex"))
    plain = tmp_path / "codex"
    plain.write_text("")
    with pytest.raises(FileNotFoundError, match="not an executable file"):
        resolve_engine_binary(CodexConfig(codex_bin=str(plain)))
    with pytest.raises(FileNotFoundError, match="not an executable file"):
        resolve_engine_binary(CodexConfig(codex_bin=str(tmp_path)))


def test_missing_runtime_wheel(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "codex_cli_bin", None)
    with pytest.raises(FileNotFoundError, match="Unable to locate the pinned Codex runtime"):
        pinned_engine_path()


def test_the_installed_engine_matches_the_pin() -> None:
    info = engine_info()
    assert info.version == ENGINE_PIN.version
    assert info.target == "x86_64-unknown-linux-musl"
    assert info.sha256 == ENGINE_PIN.sha256["x86_64-unknown-linux-musl"]
    assert info.matches_pin


def test_an_unknown_binary_does_not_match(tmp_path: Path) -> None:
    exe = tmp_path / "codex"
    exe.write_text("#!/bin/sh\necho codex-cli 0.163.0\n")
    exe.chmod(0o755)
    info = engine_info(exe)
    assert info.version == "0.163.0"
    assert info.target is None
    assert not info.matches_pin
    broken = tmp_path / "broken"
    broken.write_text("")
    assert engine_info(broken).version is None
    other = EngineInfo(exe, "0.1.0", "0" * 64, None, None)
    assert not other.matches_pin
    pinned = EngineInfo(exe, ENGINE_PIN.version, ENGINE_PIN.sha256["x86_64-unknown-linux-musl"], None, None)
    assert pinned.matches_pin
