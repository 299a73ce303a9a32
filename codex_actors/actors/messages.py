"""The typed messages the actors exchange. Every one is a frozen ``msgspec.Struct``.

Port messages are told or asked to :class:`~codex_actors.actors.port.EnginePort`; port events are what the
port reports to whoever listens (telemetry, the supervisor, tests). A message that carries a reply future
(``reply``) is answered by completing that future, so the asker never blocks the actor that answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

import msgspec

from ..protocol.jsonrpc import RequestId

if TYPE_CHECKING:
    import pykka

__all__ = [
    "ActorReply",
    "CancelRequest",
    "Connect",
    "EngineExited",
    "EngineExitedEvent",
    "GetStatus",
    "LineDroppedEvent",
    "PortEvent",
    "PortStatus",
    "ProtocolErrorEvent",
    "ReplyError",
    "ReplyResult",
    "ReplyTo",
    "RequestDone",
    "SendNotification",
    "SendRequest",
]


class Connect(msgspec.Struct, frozen=True):
    """Ask: start the engine process and run the ``initialize``/``initialized`` handshake.

    The answer is the raw ``initialize`` result (``msgspec.Raw``); a failure is raised to the asker.
    """

    timeout: float


class ActorReply(msgspec.Struct, frozen=True):
    """Deliver a reply as a :class:`RequestDone` message to ``ref``, carrying ``tag``, instead of a future."""

    ref: pykka.ActorRef[Any]
    tag: Any


class RequestDone(msgspec.Struct, frozen=True):
    """Told to the actor of an :class:`ActorReply`: the raw result, or the error, of its request."""

    tag: Any
    result: msgspec.Raw | None = None
    error: BaseException | None = None


#: Where a request's reply goes: a future the asker waits on, or a message to an actor.
ReplyTo: TypeAlias = "pykka.Future[msgspec.Raw] | ActorReply"


class SendRequest(msgspec.Struct, frozen=True):
    """Tell: write a request; its reply (the raw result or the mapped error) goes to ``reply``."""

    method: str
    params: Any
    reply: ReplyTo


class CancelRequest(msgspec.Struct, frozen=True):
    """Tell: forget a request whose asker stopped waiting (a late reply is then dropped)."""

    reply: ReplyTo


class SendNotification(msgspec.Struct, frozen=True):
    """Tell: write a client notification."""

    method: str
    params: Any = None


class ReplyResult(msgspec.Struct, frozen=True):
    """Tell: answer a server request with a result."""

    id: RequestId
    result: Any


class ReplyError(msgspec.Struct, frozen=True):
    """Tell: answer a server request with a JSON-RPC error."""

    id: RequestId
    code: int
    message: str
    data: Any = None


class EngineExited(msgspec.Struct, frozen=True):
    """Tell (from the reader thread to its port): the engine's stdout ended."""

    exit_code: int | None


class GetStatus(msgspec.Struct, frozen=True):
    """Ask: the port's :class:`PortStatus`."""


class PortStatus(msgspec.Struct, frozen=True):
    """The answer to a status ask: the process, and the requests still waiting for replies."""

    pid: int | None
    running: bool
    pending_requests: int
    exit_code: int | None


class ProtocolErrorEvent(msgspec.Struct, frozen=True):
    """The engine wrote a line that is not JSON-RPC; it was dropped and reading went on."""

    pid: int
    error: str
    line_head: bytes


class LineDroppedEvent(msgspec.Struct, frozen=True):
    """The engine wrote a line longer than the port's limit; it was dropped and reading resynchronized."""

    pid: int
    size: int
    limit: int


class EngineExitedEvent(msgspec.Struct, frozen=True):
    """The engine's stdout ended while the port was not closing it: the engine died or quit on its own."""

    pid: int
    exit_code: int | None
    stderr_tail: str


PortEvent: TypeAlias = ProtocolErrorEvent | LineDroppedEvent | EngineExitedEvent
