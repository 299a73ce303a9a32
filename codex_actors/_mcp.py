"""MCP servers: :class:`McpServer`, one server the engine starts (stdio) or connects to (streamable HTTP).

Given as ``mcp_servers={"name": McpServer(...)}``, a server becomes the engine's ``mcp_servers.<name>``
config table (:meth:`McpServer.to_config`), with the engine's own key names:

* On ``CodexConfig(mcp_servers=...)``: every thread the client starts, resumes or forks gets them.
* On ``thread_start(mcp_servers=...)`` (and ``thread_resume``/``thread_fork``): that thread, over the client's
  of the same name.

Both go into the thread's ``config`` overrides, sent over the engine's stdin (never its command line, which
every user of the machine can read), and a thread keeps them when the runtime resumes it on a restarted engine.

The engine starts a stdio server for each thread that has it and names its tools to the model as
``mcp__<name>``. Whether a call needs approval is the server's ``approval_mode`` (the engine's
``default_tools_approval_mode``): ``"approve"`` runs every call without asking; otherwise the engine asks the
client (``mcpServer/elicitation/request``), which the thread's approval policy answers (a client without a
policy declines).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

__all__ = ["McpApprovalMode", "McpServer", "check_servers", "mcp_config"]

#: The engine's ``default_tools_approval_mode`` values (0.163.0).
McpApprovalMode = Literal["auto", "prompt", "writes", "approve"]
_APPROVAL_MODES = ("auto", "prompt", "writes", "approve")
#: A server name the engine takes (it becomes a TOML key and part of the tools' ``mcp__<name>`` namespace).
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclasses.dataclass(frozen=True, slots=True)
class McpServer:
    """One MCP server: ``McpServer(command, args, env)`` (stdio) or ``McpServer(url=...)`` (streamable HTTP).

    stdio: ``command`` and ``args`` start it, with ``env`` added to its environment, the engine's variables
    named in ``env_vars`` passed on, in ``cwd``. Streamable HTTP: ``url``, with ``bearer_token_env_var`` (the
    engine's variable holding the token) and ``http_headers``. Both: ``enabled``, ``required`` (the thread
    fails to start if the server does not), ``startup_timeout_s``, ``tool_timeout_s``, ``enabled_tools`` (only
    these) and ``disabled_tools``, ``approval_mode`` (see the module docstring). A field left ``None`` (or
    empty) is left to the engine's default. Raises ``ValueError``/``TypeError`` naming a bad field.
    """

    command: str | None = None
    args: Sequence[str] = ()
    env: Mapping[str, str] | None = None
    _: dataclasses.KW_ONLY
    env_vars: Sequence[str] = ()
    cwd: str | os.PathLike[str] | None = None
    url: str | None = None
    bearer_token_env_var: str | None = None
    http_headers: Mapping[str, str] | None = None
    enabled: bool = True
    required: bool = False
    startup_timeout_s: float | None = None
    tool_timeout_s: float | None = None
    enabled_tools: Sequence[str] | None = None
    disabled_tools: Sequence[str] = ()
    approval_mode: McpApprovalMode | None = None

    def __post_init__(self) -> None:
        if (self.command is None) == (self.url is None):
            raise ValueError("McpServer needs command= (a stdio server) or url= (an HTTP server), not both")
        for name in ("command", "url", "bearer_token_env_var"):
            _check_str(name, getattr(self, name), optional=True)
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"McpServer.url must be an http:// or https:// URL, got {self.url!r}")
        stdio_only = ("args", "env", "env_vars", "cwd")
        http_only = ("bearer_token_env_var", "http_headers")
        for name in http_only if self.command is not None else stdio_only:
            if getattr(self, name):
                kind = "a stdio server (command=)" if self.command is not None else "an HTTP server (url=)"
                raise ValueError(f"McpServer.{name} does not apply to {kind}")
        for name in ("args", "env_vars", "disabled_tools"):
            object.__setattr__(self, name, _strings(name, getattr(self, name)))
        if self.enabled_tools is not None:
            object.__setattr__(self, "enabled_tools", _strings("enabled_tools", self.enabled_tools))
        for name in ("env", "http_headers"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _string_map(name, value))
        if self.cwd is not None:
            object.__setattr__(self, "cwd", os.fspath(self.cwd))
            _check_str("cwd", self.cwd)
        for name in ("enabled", "required"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"McpServer.{name} must be a bool, got {getattr(self, name)!r}")
        for name in ("startup_timeout_s", "tool_timeout_s"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf
            ):
                raise ValueError(f"McpServer.{name} must be a positive number of seconds or None, got {value!r}")
        if self.approval_mode is not None and self.approval_mode not in _APPROVAL_MODES:
            raise ValueError(
                f"McpServer.approval_mode must be one of {', '.join(_APPROVAL_MODES)} or None, "
                f"got {self.approval_mode!r}"
            )

    def to_config(self) -> dict[str, Any]:
        """The engine's ``mcp_servers.<name>`` table, with the engine's key names; unset fields left out."""
        table: dict[str, Any] = {}
        if self.command is not None:
            table["command"] = self.command
            if self.args:
                table["args"] = list(self.args)
            if self.env:
                table["env"] = dict(self.env)
            if self.env_vars:
                table["env_vars"] = list(self.env_vars)
            if self.cwd is not None:
                table["cwd"] = self.cwd
        else:
            table["url"] = self.url
            if self.bearer_token_env_var is not None:
                table["bearer_token_env_var"] = self.bearer_token_env_var
            if self.http_headers:
                table["http_headers"] = dict(self.http_headers)
        if not self.enabled:
            table["enabled"] = False
        if self.required:
            table["required"] = True
        if self.startup_timeout_s is not None:
            table["startup_timeout_sec"] = float(self.startup_timeout_s)
        if self.tool_timeout_s is not None:
            table["tool_timeout_sec"] = float(self.tool_timeout_s)
        if self.enabled_tools is not None:
            table["enabled_tools"] = list(self.enabled_tools)
        if self.disabled_tools:
            table["disabled_tools"] = list(self.disabled_tools)
        if self.approval_mode is not None:
            table["default_tools_approval_mode"] = self.approval_mode
        return table

    def __repr__(self) -> str:
        """The set fields; the values of ``env`` and ``http_headers`` masked (they often hold secrets)."""
        shown = []
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value == field.default or (value == () and field.name in ("args", "env_vars", "disabled_tools")):
                continue
            if field.name in ("env", "http_headers") and value:
                value = {name: "***" for name in value}
            shown.append(f"{field.name}={value!r}")
        return f"McpServer({', '.join(shown)})"


def check_servers(servers: Any, field: str) -> dict[str, McpServer]:
    """``servers`` as ``{name: McpServer}``; ``ValueError``/``TypeError`` naming ``field`` if it is not one."""
    if not isinstance(servers, Mapping):
        raise TypeError(f"{field} must be a mapping of names to McpServer, got {type(servers).__name__}")
    checked: dict[str, McpServer] = {}
    for name, server in servers.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(f"{field}: a server name must be 1-64 letters, digits, '_' or '-', got {name!r}")
        if not isinstance(server, McpServer):
            raise TypeError(f"{field}[{name!r}] must be an McpServer, got {server!r}")
        checked[name] = server
    return checked


def mcp_config(servers: Mapping[str, McpServer]) -> dict[str, Any]:
    """``{name: table}`` for a thread's ``config.mcp_servers``."""
    return {name: server.to_config() for name, server in servers.items()}


def _check_str(name: str, value: Any, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value:
        raise TypeError(f"McpServer.{name} must be a non-empty string, got {value!r}")


def _strings(name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TypeError(f"McpServer.{name} must be a list of strings, got {value!r}")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise TypeError(f"McpServer.{name}[{index}] must be a string, got {item!r}")
    return tuple(value)


def _string_map(name: str, value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise TypeError(f"McpServer.{name} must be a mapping of strings to strings, got {type(value).__name__}")
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise TypeError(f"McpServer.{name} must map strings to strings, got {key!r}: {type(item).__name__}")
    return dict(value)
