"""The tool registry: answers ``item/tool/call``, the engine asking the client to run one of its own tools.

Minimal for now: no tool is registered yet, so every call is answered as a failed tool call (a well-formed
``{"contentItems": [...], "success": false}``), which the model sees as the tool's output.
"""

from __future__ import annotations

import contextlib
from typing import Any

import msgspec

from ..errors import TransportClosedError
from ._messages import HandleServerRequest
from ._supervisor import ChildContext, SupervisedActor

__all__ = ["ToolRegistry"]


class _ToolCall(msgspec.Struct):
    tool: str = "?"


class ToolRegistry(SupervisedActor):
    """Answers client-side tool calls."""

    use_daemon_thread = True

    def __init__(self, context: ChildContext | None = None) -> None:
        super().__init__(context)

    def on_receive(self, message: Any) -> Any:
        """Answer one ``item/tool/call``."""
        if not isinstance(message, HandleServerRequest):
            raise TypeError(f"ToolRegistry got an unknown message: {message!r}")
        request, connection = message.request, message.connection
        try:
            name = msgspec.json.decode(request.params, type=_ToolCall).tool
        except msgspec.DecodeError:
            name = "?"
        result = {
            "contentItems": [{"type": "inputText", "text": f"no client-side tool named {name!r} is registered"}],
            "success": False,
        }
        with contextlib.suppress(TransportClosedError):
            connection.reply(request.id, result)
        return None
