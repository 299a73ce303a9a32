#!/usr/bin/env python3
"""A tiny stdio MCP server for tests: newline-delimited JSON-RPC 2.0 on stdin/stdout, standard library only.

It offers two tools:

  echo   ``{"text": str}`` -> one text content item ``"<prefix>echo: <text>"``; the prefix is the environment
         variable ``FAKE_MCP_PREFIX`` (empty if unset), so a test can tell which configuration started it
  env    ``{"name": str}`` -> the value of that environment variable in this process (``"<unset>"`` if none)

Every ``tools/call`` is appended as a JSON line to the file ``FAKE_MCP_LOG`` when that variable is set (with
this process's pid), so a test sees what the engine called, and how many server processes it started.
Requests it does not know get a ``-32601`` error; notifications are ignored.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

PROTOCOL = "2025-06-18"

TOOLS: list[dict[str, Any]] = [
    {
        "name": "echo",
        "description": "Echo the text back.",
        "inputSchema": {
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
        },
    },
    {
        "name": "env",
        "description": "The value of an environment variable of the server.",
        "inputSchema": {
            "type": "object",
            "properties": {"name": {"type": "string"}},
            "required": ["name"],
        },
    },
]


def call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """The result of ``tools/call``."""
    log = os.environ.get("FAKE_MCP_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as file:
            file.write(json.dumps({"pid": os.getpid(), "tool": name, "arguments": arguments}) + "\n")
    if name == "echo":
        text = f"{os.environ.get('FAKE_MCP_PREFIX', '')}echo: {arguments.get('text', '')}"
    elif name == "env":
        text = os.environ.get(str(arguments.get("name")), "<unset>")
    else:
        return {"content": [{"type": "text", "text": f"no tool {name!r}"}], "isError": True}
    return {"content": [{"type": "text", "text": text}], "isError": False}


def answer(method: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """The result of a request, or ``None`` for a method this server does not have."""
    if method == "initialize":
        return {
            "protocolVersion": params.get("protocolVersion", PROTOCOL),
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": {"name": "fake-mcp", "version": "1.0.0"},
        }
    if method == "tools/list":
        return {"tools": TOOLS}
    if method == "tools/call":
        return call(str(params.get("name")), dict(params.get("arguments") or {}))
    if method == "ping":
        return {}
    return None


def main() -> None:
    """Serve until stdin closes."""
    for line in sys.stdin:
        if not line.strip():
            continue
        message = json.loads(line)
        if "id" not in message or "method" not in message:
            continue  # a notification, or an answer to a request this server never sends
        result = answer(message["method"], message.get("params") or {})
        if result is None:
            reply: dict[str, Any] = {
                "jsonrpc": "2.0",
                "id": message["id"],
                "error": {"code": -32601, "message": f"method not found: {message['method']}"},
            }
        else:
            reply = {"jsonrpc": "2.0", "id": message["id"], "result": result}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
