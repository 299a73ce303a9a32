"""The approval broker: answers the engine's server requests that are not client-side tool calls.

Minimal for now, with the official SDK's defaults where they are sound: command and file-change approvals are
accepted. Every other server request gets a JSON-RPC error (never the official SDK's schema-invalid ``{}``),
so the engine fails that one item instead of waiting or misreading an empty answer.
"""

from __future__ import annotations

import contextlib
from typing import Any

from ..errors import TransportClosedError
from ._messages import HandleServerRequest, ReplyError
from ._supervisor import ChildContext, SupervisedActor

__all__ = ["ApprovalBroker"]

_ACCEPT = {"decision": "accept"}
_ACCEPTED_METHODS = frozenset({"item/commandExecution/requestApproval", "item/fileChange/requestApproval"})


class ApprovalBroker(SupervisedActor):
    """Answers approval requests by policy (today: the official defaults)."""

    use_daemon_thread = True

    def __init__(self, context: ChildContext | None = None) -> None:
        super().__init__(context)

    def on_receive(self, message: Any) -> Any:
        """Answer one server request."""
        if not isinstance(message, HandleServerRequest):
            raise TypeError(f"ApprovalBroker got an unknown message: {message!r}")
        request, connection = message.request, message.connection
        with contextlib.suppress(TransportClosedError):
            if request.method in _ACCEPTED_METHODS:
                connection.reply(request.id, _ACCEPT)
            else:
                refusal = ReplyError.refusal(request)
                connection.reply_error(refusal.id, refusal.code, refusal.message)
        return None
