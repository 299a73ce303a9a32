"""MCP servers on the REAL engine + scripted model, with the stdio MCP server of tests/support/fakes.

* A client's server (``CodexConfig.mcp_servers``, in every thread's config) and a thread's
  (``thread_start(mcp_servers=...)``, in that thread's config) answer the model's ``mcp__<name>`` calls; the
  ``mcpToolCall`` item completes with the fake server's result and the model's next request carries it. A
  thread's server replaces the client's of the same name, for that thread only.
* ``env`` reaches the server; ``env_vars`` passes on a variable of the engine's environment (the way to give a
  secret without putting it in the engine's command line).
* Approvals: under ``ApprovalMode.deny_all`` a server whose calls need approval (the engine's default) fails
  the call, and the server is never called (approval policies deciding MCP calls: tests/integration/
  test_approvals.py).
* Restarts: after ``kill -9`` of the engine between turns the runtime resumes the thread, with its server.
* Scale: 100 threads of one client call the client's server at once; the engine starts a server process for
  each thread (an engine fact: 29 processes for 30 threads when measured), not one for all.
* Bad input: a bad server or name is refused, typed, before anything is sent.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from codex_actors import ApprovalMode, AsyncCodex, Codex, CodexConfig, McpServer
from codex_actors._binary import build_launch
from codex_actors._protocol.generated import McpToolCallStatus, McpToolCallThreadItem
from codex_actors._results import TurnResult
from codex_actors.errors import InvalidInputError
from codex_actors.testing import OfflineEngine, message, reply, tool_call
from tests.support import fakes
from tests.support.engines import engine_pid
from tests.support.waiting import kill_and_wait, wait_until

SERVER = str(Path(fakes.__file__).with_name("mcp_server.py"))


def server(log: Path | None = None, **fields: Any) -> McpServer:
    """The fake server, calls logged to ``log``, its calls run without asking unless ``approval_mode`` says."""
    env = dict(fields.pop("env", None) or {})
    if log is not None:
        env["FAKE_MCP_LOG"] = str(log)
    fields.setdefault("approval_mode", "approve")
    return McpServer(sys.executable, [SERVER], env, **fields)


def echo(text: str, name: str = "fake") -> Any:
    return reply(tool_call("echo", {"text": text}, namespace=f"mcp__{name}"))


def mcp_items(result: TurnResult) -> list[McpToolCallThreadItem]:
    return [item for item in result.items if isinstance(item, McpToolCallThreadItem)]


def outputs(result: TurnResult) -> list[str]:
    """The text of each MCP call's result (or its error's message)."""
    texts = []
    for item in mcp_items(result):
        if item.result is not None:
            texts.append(" ".join(str(part.get("text")) for part in item.result.content))
        else:
            texts.append(f"error: {item.error.message if item.error else None}")
    return texts


def logged(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def config(offline: OfflineEngine, **fields: Any) -> CodexConfig:
    return dataclasses.replace(offline.config, **fields)


def test_a_client_server_answers_the_models_call(offline: OfflineEngine, tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    offline.model.enqueue(echo("hi"), message("done"))
    with Codex(config(offline, mcp_servers={"fake": server(log)})) as codex:
        result = codex.thread_start().run("go")
    assert result.final_response == "done"
    (item,) = mcp_items(result)
    assert (item.server, item.tool, item.status) == ("fake", "echo", McpToolCallStatus.completed)
    assert outputs(result) == ["echo: hi"]
    assert "echo: hi" in offline.model.requests[1].tool_output()
    assert [(call["tool"], call["arguments"]) for call in logged(log)] == [("echo", {"text": "hi"})]


def test_a_threads_server_replaces_the_clients_of_that_name_for_that_thread_only(offline: OfflineEngine) -> None:
    offline.model.enqueue(echo("one"), message("done"), echo("two"), message("done"))
    client = server(env={"FAKE_MCP_PREFIX": "client "})
    own = server(env={"FAKE_MCP_PREFIX": "thread "})
    with Codex(config(offline, mcp_servers={"fake": client})) as codex:
        first = codex.thread_start(mcp_servers={"fake": own}).run("go")
        second = codex.thread_start().run("go")
    assert outputs(first) == ["thread echo: one"]
    assert outputs(second) == ["client echo: two"]


def test_env_vars_pass_on_a_variable_of_the_engines_environment(offline: OfflineEngine) -> None:
    offline.model.enqueue(
        reply(tool_call("env", {"name": "FAKE_TOKEN"}, namespace="mcp__fake")),
        message("done"),
        reply(tool_call("env", {"name": "FAKE_TOKEN"}, namespace="mcp__bare")),
        message("done"),
    )
    env = {**(offline.config.env or {}), "FAKE_TOKEN": "from-the-engine"}
    servers = {"fake": server(env_vars=["FAKE_TOKEN"]), "bare": server()}
    chosen = config(offline, env=env, mcp_servers=servers)
    with Codex(chosen) as codex:
        passed = codex.thread_start().run("go")
        withheld = codex.thread_start().run("go")
    assert outputs(passed) == ["from-the-engine"]
    assert outputs(withheld) == ["<unset>"]
    assert "mcp_servers" not in " ".join(build_launch(chosen).argv)  # not in the engine's command line


def test_under_deny_all_a_call_that_needs_approval_fails_and_the_server_is_never_called(
    offline: OfflineEngine, tmp_path: Path
) -> None:
    log = tmp_path / "calls.jsonl"
    offline.model.enqueue(echo("hi"), message("done"))
    with Codex(config(offline)) as codex:
        asking = {"fake": server(log, approval_mode=None)}  # the engine's default: calls need approval
        result = codex.thread_start(mcp_servers=asking, approval_mode=ApprovalMode.deny_all).run("go")
    assert result.final_response == "done"
    (item,) = mcp_items(result)
    assert item.status is McpToolCallStatus.failed
    assert item.error is not None and "approval" in item.error.message
    assert logged(log) == []


def test_a_threads_server_answers_after_the_engine_is_killed_between_turns(
    offline: OfflineEngine, tmp_path: Path
) -> None:
    log = tmp_path / "calls.jsonl"
    offline.model.enqueue(echo("before"), message("one"), echo("after"), message("two"))
    with Codex(config(offline, max_restarts=10)) as codex:
        thread = codex.thread_start(mcp_servers={"fake": server(log)})
        first = thread.run("go")
        pid = engine_pid(codex)
        assert pid is not None
        kill_and_wait(pid)
        wait_until(lambda: engine_pid(codex) not in (None, pid), "a new engine", 30)
        second = thread.run("again")
    assert outputs(first) == ["echo: before"]
    assert outputs(second) == ["echo: after"]
    assert [call["arguments"]["text"] for call in logged(log)] == ["before", "after"]


@pytest.mark.timeout(180)
def test_100_threads_call_the_clients_server_at_once(tmp_path: Path) -> None:
    count = 100
    log = tmp_path / "calls.jsonl"
    with OfflineEngine(default=message("done")) as offline:
        offline.model.enqueue(*(echo(str(index)) for index in range(count)))

        async def scenario() -> list[TurnResult]:
            async with AsyncCodex(config(offline, mcp_servers={"fake": server(log)})) as codex:
                threads = [await codex.thread_start() for _ in range(count)]
                return list(await asyncio.gather(*(thread.run("go") for thread in threads)))

        results = asyncio.run(scenario())
    assert all(result.final_response == "done" for result in results)
    assert sorted(text for result in results for text in outputs(result)) == sorted(
        f"echo: {index}" for index in range(count)
    )
    calls = logged(log)
    assert len(calls) == count
    assert len({call["pid"] for call in calls}) > 1  # the engine starts servers per thread, not one in all


def test_bad_servers_are_refused_before_anything_is_sent(offline: OfflineEngine) -> None:
    with pytest.raises(ValueError, match="server name"):
        config(offline, mcp_servers={"not a name": server()})
    with pytest.raises(TypeError, match=r"mcp_servers\['fake'\] must be an McpServer"):
        config(offline, mcp_servers={"fake": {"command": "x"}})
    with Codex(config(offline)) as codex:
        with pytest.raises(InvalidInputError) as raised:
            codex.thread_start(mcp_servers={"fake": "python3 server.py"})  # type: ignore[dict-item]
        assert raised.value.field == "mcp_servers"
        assert offline.model.requests == []
        offline.model.enqueue(message("fine"))
        assert codex.thread_start().run("go").final_response == "fine"
