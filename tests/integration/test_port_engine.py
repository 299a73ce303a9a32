"""The engine port against the REAL engine and the scripted model, at the raw protocol level."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from codex_actors.actors._connection import EngineConnection
from codex_actors.actors._router import Router
from codex_actors.errors import InvalidRequestError, JsonRpcError
from codex_actors.testing import OfflineEngine, exec_command, message, reply, streamed_message
from tests.support.collector import Collector
from tests.support.leaks import assert_nothing_leaked, snapshot


def start_thread(conn: EngineConnection, collector: Collector, **params: Any) -> str:
    result = msgspec.json.decode(conn.request("thread/start", {"approvalPolicy": "never", **params}))
    thread_id: str = result["thread"]["id"]
    conn.router.bind_thread(thread_id, collector)
    return thread_id


def run_turn(conn: EngineConnection, collector: Collector, thread_id: str, text: str) -> dict[str, Any]:
    started = msgspec.json.decode(
        conn.request("turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": text}]})
    )
    assert started["turn"]["status"] == "inProgress"
    completed = collector.wait_for("turn/completed")
    assert completed["turn"]["id"] == started["turn"]["id"]  # type: ignore[index]
    return completed


def completed_items(collector: Collector) -> list[dict[str, Any]]:
    return [params["item"] for method, params in collector.items if method == "item/completed"]  # type: ignore[misc]


def test_handshake_and_metadata(offline: OfflineEngine) -> None:
    with EngineConnection.open(offline.config) as conn:
        result = conn.initialize_result
        assert result["userAgent"].startswith("codex_python_sdk/0.163.0 ")
        assert result["codexHome"] == str(offline.codex_home)
        assert (result["platformFamily"], result["platformOs"]) == ("unix", "linux")
        assert conn.status().running


def test_client_info_comes_from_config(offline: OfflineEngine) -> None:
    from dataclasses import replace

    config = replace(offline.config, client_name="acme_bot", client_version="9.9.9")
    with EngineConnection.open(config) as conn:
        user_agent = conn.initialize_result["userAgent"]
        assert user_agent.startswith("acme_bot/0.163.0 ")
        assert user_agent.endswith("(acme_bot; 9.9.9)")


def test_unknown_method_is_a_typed_json_rpc_error(offline: OfflineEngine) -> None:
    with EngineConnection.open(offline.config) as conn, pytest.raises(InvalidRequestError) as info:
        conn.request("bogus/method", {})
    assert isinstance(info.value, JsonRpcError)
    assert info.value.code == -32600
    assert "unknown variant `bogus/method`" in info.value.message


def test_a_plain_turn_end_to_end(offline: OfflineEngine) -> None:
    offline.model.enqueue(reply(streamed_message("Hello", ", ", "world")))
    collector = Collector()
    with EngineConnection.open(offline.config, router=Router()) as conn:
        thread_id = start_thread(conn, collector)
        completed = run_turn(conn, collector, thread_id, "say hello")
    assert completed["turn"]["status"] == "completed"
    methods = collector.methods()
    assert (
        methods.index("turn/started") < methods.index("item/agentMessage/delta") < methods.index("turn/completed")
    )
    deltas = [p["delta"] for m, p in collector.items if m == "item/agentMessage/delta"]
    assert "".join(deltas) == "Hello, world"  # type: ignore[arg-type]
    agent = [i for i in completed_items(collector) if i["type"] == "agentMessage"]
    assert agent[-1]["text"] == "Hello, world"
    assert "thread/tokenUsage/updated" in methods
    request = offline.model.requests[-1]
    assert "say hello" in request.message_texts()
    offline.model.assert_done()


def test_a_shell_command_turn_end_to_end(offline: OfflineEngine) -> None:
    offline.model.enqueue(
        reply(exec_command("echo hi-from-the-shell")),
        message("The command printed hi-from-the-shell."),
    )
    collector = Collector()
    with EngineConnection.open(offline.config) as conn:
        thread_id = start_thread(conn, collector, sandbox="workspace-write")
        completed = run_turn(conn, collector, thread_id, "run echo")
    assert completed["turn"]["status"] == "completed"
    commands = [i for i in completed_items(collector) if i["type"] == "commandExecution"]
    assert len(commands) == 1
    assert commands[0]["status"] == "completed"
    assert commands[0]["exitCode"] == 0
    assert "hi-from-the-shell" in commands[0]["aggregatedOutput"]
    _first, second = offline.model.requests
    assert "hi-from-the-shell" in second.tool_output()
    agent = [i for i in completed_items(collector) if i["type"] == "agentMessage"]
    assert agent[-1]["text"] == "The command printed hi-from-the-shell."


def test_200_start_close_cycles_leave_nothing_behind(offline: OfflineEngine) -> None:
    # One warm-up cycle first, so lazily created process-wide state (pykka, logging) is not counted.
    EngineConnection.open(offline.config).close()
    before = snapshot()
    for _ in range(200):
        conn = EngineConnection.open(offline.config)
        conn.close()
    assert_nothing_leaked(before)
