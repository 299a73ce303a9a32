"""The `codex-actors` command: the offline demo, the doctor and the metrics endpoint."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from codex_actors._binary import ENGINE_PIN
from codex_actors._cli import main


def test_demo_runs_a_real_shell_command_offline() -> None:
    from codex_actors._demo import run_demo

    out = io.StringIO()
    assert run_demo(out) == 0
    text = out.getvalue()
    assert "codex_python_sdk/0.163.0" in text
    assert "hello from a real shell" in text
    assert "command finished: exit code 0" in text
    assert "turn completed in" in text
    assert "final answer: I wrote greeting.txt and listed the workspace." in text
    assert "metrics: http://127.0.0.1:" in text
    assert 'codex_turns_total{model="gpt-5.5",outcome="completed"}' in text


def test_metrics_command_serves_and_prints_the_metrics() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "codex_actors._cli", "metrics", "--port", "0", "--turns", "2", "--once"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("metrics: http://127.0.0.1:")
    assert 'codex_turns_total{model="gpt-5.5",outcome="completed"} 2.0' in done.stdout
    assert "codex_build_info" in done.stdout


def test_demo_as_a_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "codex_actors._cli", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "final answer:" in done.stdout


def test_doctor_on_the_pinned_engine(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert f"sha256:   {ENGINE_PIN.sha256['x86_64-unknown-linux-musl']}" in out
    assert "matches pin: yes" in out


def test_doctor_prints_the_effective_configuration_with_the_key_masked(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODEX_API_KEY", "sk-doctor-secret-0123456789")
    monkeypatch.setenv("CODEX_URL", "http://127.0.0.1:9/v1")
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "api_key: '***' (from CODEX_API_KEY)" in out
    assert "base_url: 'http://127.0.0.1:9/v1' (from CODEX_URL)" in out
    assert "openai_base_url=" in out
    assert "sk-doctor-secret" not in out


def test_doctor_fails_on_another_binary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exe = tmp_path / "codex"
    exe.write_text("#!/bin/sh\necho codex-cli 0.1.0\n")
    exe.chmod(0o755)
    assert main(["doctor", "--codex-bin", str(exe)]) == 1
    out = capsys.readouterr().out
    assert "version:  0.1.0 (pinned: 0.163.0)" in out
    assert "matches pin: NO" in out
    assert main(["doctor", "--codex-bin", str(tmp_path / "missing")]) == 2


def test_usage_error() -> None:
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2


def test_metrics_once_in_process_prints_the_endpoint_and_the_families(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["metrics", "--port", "0", "--once"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("metrics: http://127.0.0.1:")
    assert "codex_engines_up" in out
