"""``McpServer``: its checks, the engine config table it becomes, its masked repr, where a client's go."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from codex_actors import CodexConfig, McpServer
from codex_actors._binary import build_launch
from codex_actors._mcp import check_servers, mcp_config
from codex_actors._thread_setup import ThreadSetup
from codex_actors.errors import InvalidInputError


def test_a_stdio_server_becomes_the_engines_table_with_its_key_names() -> None:
    server = McpServer(
        "python3",
        ["server.py", "--flag"],
        {"TOKEN": "secret"},
        env_vars=["HOME_TOKEN"],
        cwd=Path("/srv"),
        required=True,
        startup_timeout_s=5,
        tool_timeout_s=30.5,
        enabled_tools=["echo"],
        disabled_tools=["rm"],
        approval_mode="approve",
    )
    assert server.to_config() == {
        "command": "python3",
        "args": ["server.py", "--flag"],
        "env": {"TOKEN": "secret"},
        "env_vars": ["HOME_TOKEN"],
        "cwd": "/srv",
        "required": True,
        "startup_timeout_sec": 5.0,
        "tool_timeout_sec": 30.5,
        "enabled_tools": ["echo"],
        "disabled_tools": ["rm"],
        "default_tools_approval_mode": "approve",
    }


def test_an_http_server_and_the_defaults_left_to_the_engine() -> None:
    assert McpServer("x").to_config() == {"command": "x"}
    server = McpServer(url="https://mcp.example/v1", bearer_token_env_var="TOKEN", http_headers={"X-A": "b"})
    assert server.to_config() == {
        "url": "https://mcp.example/v1",
        "bearer_token_env_var": "TOKEN",
        "http_headers": {"X-A": "b"},
    }
    assert McpServer("x", enabled=False, enabled_tools=[]).to_config() == {
        "command": "x",
        "enabled": False,
        "enabled_tools": [],
    }


@pytest.mark.parametrize(
    ("fields", "error", "says"),
    [
        ({}, ValueError, "command= .* or url="),
        ({"command": "x", "url": "http://h"}, ValueError, "not both"),
        ({"command": ""}, TypeError, "non-empty string"),
        ({"command": ["python3"]}, TypeError, "command must be"),
        ({"url": "ftp://h"}, ValueError, "http:// or https://"),
        ({"command": "x", "args": "a b"}, TypeError, "args must be a list"),
        ({"command": "x", "args": ["a", 1]}, TypeError, r"args\[1\]"),
        ({"command": "x", "env": {"A": 1}}, TypeError, "env must map strings"),
        ({"command": "x", "env": ["A"]}, TypeError, "env must be a mapping"),
        ({"command": "x", "http_headers": {"A": "b"}}, ValueError, "does not apply to a stdio server"),
        ({"url": "http://h", "args": ["a"]}, ValueError, "does not apply to an HTTP server"),
        ({"command": "x", "enabled": "yes"}, TypeError, "enabled must be a bool"),
        ({"command": "x", "tool_timeout_s": 0}, ValueError, "tool_timeout_s"),
        ({"command": "x", "startup_timeout_s": True}, ValueError, "startup_timeout_s"),
        ({"command": "x", "approval_mode": "always"}, ValueError, "one of auto, prompt, writes, approve"),
        ({"command": "x", "cwd": 3}, TypeError, "expected str"),
    ],
)
def test_a_bad_field_is_named(fields: dict[str, Any], error: type[Exception], says: str) -> None:
    with pytest.raises(error, match=says):
        McpServer(**fields)


def test_the_repr_masks_env_and_header_values() -> None:
    server = McpServer("python3", ["s.py"], {"TOKEN": "sk-secret"})
    assert repr(server) == "McpServer(command='python3', args=('s.py',), env={'TOKEN': '***'})"
    assert "sk-secret" not in repr(McpServer(url="https://h", http_headers={"Authorization": "Bearer sk-secret"}))
    assert "sk-secret" not in repr(CodexConfig(mcp_servers={"s": server}))


def test_servers_are_checked_by_name_and_kind() -> None:
    assert check_servers({"a-1_b": McpServer("x")}, "f") == {"a-1_b": McpServer("x")}
    with pytest.raises(TypeError, match="f must be a mapping"):
        check_servers([McpServer("x")], "f")
    with pytest.raises(ValueError, match="server name"):
        check_servers({"a.b": McpServer("x")}, "f")
    with pytest.raises(TypeError, match=r"f\['a'\] must be an McpServer"):
        check_servers({"a": "x"}, "f")


def test_a_clients_servers_go_into_every_threads_config_and_never_on_the_command_line() -> None:
    servers = {"one": McpServer("python3", ["s.py"], {"TOKEN": "sk-secret"}), "two": McpServer(url="http://h")}
    config = CodexConfig(mcp_servers=servers)
    assert "sk-secret" not in " ".join(build_launch(config).argv)
    for method in ("thread/start", "thread/resume", "thread/fork"):
        params: dict[str, Any] = {"threadId": "t"}
        ThreadSetup(config, method, params, mcp_servers={"two": McpServer("python3", ["mine.py"])})
        assert params["config"]["mcp_servers"] == {
            "one": servers["one"].to_config(),
            "two": {"command": "python3", "args": ["mine.py"]},  # the thread's replaces the client's
        }, method
    params = {"threadId": "t"}
    ThreadSetup(config, "thread/unarchive", params)
    assert "config" not in params


def test_a_threads_servers_go_into_its_config_and_its_resume_params() -> None:
    servers = {"fake": McpServer("python3", ["s.py"])}
    params: dict[str, Any] = {"config": {"model": "m", "mcp_servers": {"kept": {"command": "k"}}}}
    setup = ThreadSetup(CodexConfig(), "thread/start", params, mcp_servers=servers)
    assert params["config"] == {
        "model": "m",
        "mcp_servers": {"kept": {"command": "k"}, **mcp_config(servers)},
    }
    assert setup._services is not None
    assert setup._services.resume == {"config": {"mcp_servers": params["config"]["mcp_servers"]}}
    with pytest.raises(InvalidInputError) as raised:
        ThreadSetup(CodexConfig(), "thread/start", {}, mcp_servers={"fake": "s.py"})  # type: ignore[dict-item]
    assert raised.value.field == "mcp_servers"
