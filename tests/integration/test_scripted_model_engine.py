"""The scripted model against the REAL engine (``codex exec --json``), fully offline."""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import codex_cli_bin
import pytest

from codex_actors.testing import (
    Gate,
    ScriptedModel,
    Usage,
    apply_patch,
    exec_command,
    failed,
    http_error,
    message,
    offline_env,
    reasoning,
    reply,
    streamed_message,
    write_offline_home,
)

pytestmark = pytest.mark.integration

CODEX = str(codex_cli_bin.bundled_codex_path())
TIMEOUT = 30


@dataclass
class ExecRun:
    returncode: int
    events: list[dict[str, Any]]
    stderr: str
    seconds: float

    def items(self, item_type: str) -> list[dict[str, Any]]:
        return [e["item"] for e in self.events if e["type"] == "item.completed" and e["item"]["type"] == item_type]

    def last(self, event_type: str) -> dict[str, Any]:
        return [e for e in self.events if e["type"] == event_type][-1]


def exec_argv(workspace: Path, prompt: str, *flags: str) -> list[str]:
    return [CODEX, "exec", "--json", "--skip-git-repo-check", "-C", str(workspace), *flags, prompt]


def exec_env(home: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, **offline_env(home), **extra}


def run_exec(model: ScriptedModel, tmp_path: Path, *flags: str, prompt: str = "go") -> ExecRun:
    """Run one `codex exec --json` turn against `model` with an offline home under tmp_path."""
    home = write_offline_home(tmp_path / "home", model_url=model.url)
    workspace = tmp_path / "workspace"
    workspace.mkdir(exist_ok=True)
    start = time.monotonic()
    proc = subprocess.run(
        exec_argv(workspace, prompt, *flags),
        env=exec_env(home),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    seconds = time.monotonic() - start
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return ExecRun(proc.returncode, events, proc.stderr, seconds)


def test_plain_message_turn(tmp_path: Path) -> None:
    usage = Usage(input_tokens=21, cached_tokens=4, output_tokens=8, reasoning_tokens=3)
    with ScriptedModel(reply(message("hello from the script"), usage=usage)) as model:
        run = run_exec(model, tmp_path, prompt="say hello")
        (request,) = model.requests
    assert run.returncode == 0, run.stderr
    assert [m["text"] for m in run.items("agent_message")] == ["hello from the script"]
    assert run.last("turn.completed")["usage"] == {
        "input_tokens": 21,
        "cached_input_tokens": 4,
        "cache_write_input_tokens": 0,
        "output_tokens": 8,
        "reasoning_output_tokens": 3,
    }
    assert (request.method, request.path) == ("POST", "/v1/responses")
    assert request.header("accept") == "text/event-stream"
    assert request.body["model"] == "gpt-5.5" and request.body["stream"] is True
    assert request.message_texts("user")[-1] == "say hello"
    assert run.seconds < 5


def test_exec_command_round_trip(tmp_path: Path) -> None:
    with ScriptedModel() as model:
        (first_reply, _) = model.enqueue(
            reply(reasoning("let me check"), exec_command("echo hi")),
            streamed_message("all ", "done"),
        )
        run = run_exec(model, tmp_path)
        model.assert_done()
        first, second = model.requests
    assert run.returncode == 0, run.stderr
    (call_id,) = first_reply.call_ids
    assert first.tool_outputs() == []
    assert "hi" in second.tool_output(call_id).splitlines()
    assert "Process exited with code 0" in second.tool_output()
    (command,) = run.items("command_execution")
    assert command["exit_code"] == 0 and "echo hi" in command["command"]
    assert [r["text"] for r in run.items("reasoning")] == ["let me check"]
    assert [m["text"] for m in run.items("agent_message")] == ["all done"]
    assert run.seconds < 5


def test_failed_reply_fails_the_turn(tmp_path: Path) -> None:
    with ScriptedModel(failed("model exploded")) as model:
        run = run_exec(model, tmp_path)
    assert run.returncode == 1
    assert "model exploded" in run.last("turn.failed")["error"]["message"]
    assert run.seconds < 5


def test_http_error_fails_the_turn(tmp_path: Path) -> None:
    with ScriptedModel(http_error(500)) as model:
        run = run_exec(model, tmp_path)
        assert len(model.requests) == 1  # no retries with the offline home
    assert run.returncode == 1
    assert run.last("turn.failed")["error"]["message"]
    assert run.seconds < 5


def test_http_400_body_reaches_the_turn_error(tmp_path: Path) -> None:
    with ScriptedModel(http_error(400, {"error": {"message": "bad scripted request"}})) as model:
        run = run_exec(model, tmp_path)
    assert run.returncode == 1
    assert "bad scripted request" in run.last("turn.failed")["error"]["message"]


def test_out_of_script_request_is_recorded(tmp_path: Path) -> None:
    with ScriptedModel(exec_command("true")) as model:  # no reply for the follow-up request
        run = run_exec(model, tmp_path)
        assert len(model.requests) == 2
        assert model.unexpected_requests == [model.requests[1]]
        with pytest.raises(AssertionError, match="unexpected"):
            model.assert_done()
    assert run.returncode == 1
    assert run.last("turn.failed")


def test_apply_patch_writes_in_the_workspace(tmp_path: Path) -> None:
    patch = "*** Begin Patch\n*** Add File: notes/hello.txt\n+hello\n+world\n*** End Patch\n"
    with ScriptedModel(apply_patch(patch), message("patched")) as model:
        run = run_exec(model, tmp_path, "--sandbox", "workspace-write")
        second = model.requests[1]
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "workspace" / "notes" / "hello.txt").read_text() == "hello\nworld\n"
    (change,) = run.items("file_change")
    assert change["status"] == "completed"
    assert change["changes"] == [{"path": str(tmp_path / "workspace" / "notes" / "hello.txt"), "kind": "add"}]
    assert "hello.txt" in second.tool_output()
    assert run.seconds < 5


def test_gate_holds_the_turn_open(tmp_path: Path) -> None:
    gate = Gate(timeout=10)
    with ScriptedModel(reply(message("thinking..."), gate, message("released"))) as model:
        home = write_offline_home(tmp_path / "home", model_url=model.url)
        (tmp_path / "workspace").mkdir()
        proc = subprocess.Popen(
            exec_argv(tmp_path / "workspace", "go"),
            env=exec_env(home),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            gate.wait_reached(timeout=TIMEOUT)
            time.sleep(0.3)
            assert proc.poll() is None  # the turn is still open
            gate.open()
            stdout, stderr = proc.communicate(timeout=TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 0, stderr
    texts = [json.loads(line)["item"].get("text") for line in stdout.splitlines() if '"item.completed"' in line]
    assert texts[-1] == "released"
    assert not gate.timed_out


def test_builtin_provider_falls_back_from_websocket_at_once(tmp_path: Path) -> None:
    # The built-in provider tries a WebSocket first; the 426 (with an HTTP/1.1 status line) makes it use HTTP.
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(
        'model = "gpt-5.5"\n[analytics]\nenabled = false\n'
        "[features]\nplugins = false\nunbounded_connection_retries = false\n"
    )
    (tmp_path / "workspace").mkdir()
    with ScriptedModel("over the built-in provider") as model:
        start = time.monotonic()
        proc = subprocess.run(
            exec_argv(tmp_path / "workspace", "go", "-c", f'openai_base_url="{model.url}"'),
            env=exec_env(home, CODEX_API_KEY="sk-test"),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        seconds = time.monotonic() - start
        methods = [(r.method, r.path) for r in model.requests]
        (post,) = model.model_requests
    assert proc.returncode == 0, proc.stderr
    assert '"over the built-in provider"' in proc.stdout
    assert methods == [("GET", "/v1/responses"), ("POST", "/v1/responses")]
    assert post.header("authorization") == "Bearer sk-test"
    assert seconds < 3  # a 404 or an HTTP/1.0 426 costs about 6 s of WebSocket retries
