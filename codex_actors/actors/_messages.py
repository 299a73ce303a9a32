"""The typed messages the actors exchange. Every one is a frozen ``msgspec.Struct``.

Port messages are told or asked to :class:`~codex_actors.actors._port.EnginePort`; port events are what the
port reports to whoever listens (telemetry, the supervisor, tests). A message that carries a reply future
(``reply``) is answered by completing that future, so the asker never blocks the actor that answers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import msgspec

from .._protocol.jsonrpc import RequestId, ServerNotification, ServerRequest

if TYPE_CHECKING:
    import pykka

    from .._results import TurnResult
    from ..models import Notification
    from ._port import EngineConnection
    from ._turnlog import TurnLog

__all__ = [
    "ActorReply",
    "CallbackReply",
    "CancelRequest",
    "Connect",
    "DrainNotifications",
    "EngineDown",
    "EngineExited",
    "EngineExitedEvent",
    "EngineUp",
    "GetEngine",
    "GetStatus",
    "HandleServerRequest",
    "LineDroppedEvent",
    "NotificationBatch",
    "PortEvent",
    "PortStatus",
    "ProtocolErrorEvent",
    "ReplyError",
    "ReplyResult",
    "ReplyTo",
    "RequestDone",
    "RunTurn",
    "SendNotification",
    "SendRequest",
    "StartEngine",
    "StartThread",
    "StartTurn",
    "StopThread",
    "SubscribeTurn",
    "ThreadRequest",
    "TurnFinished",
    "TurnStarted",
    "UnownedNotifications",
    "WaitLogin",
]


class Connect(msgspec.Struct, frozen=True):
    """Ask: start the engine process and send ``initialize``; answered as soon as the request is written.

    The engine's answer (the raw ``initialize`` result, or the error) goes to ``reply``; the asker then tells
    ``initialized`` (see :class:`~codex_actors.actors._port.Connecting`). A failure to spawn is raised to the asker.
    """

    reply: ReplyTo


class ActorReply(msgspec.Struct, frozen=True):
    """Deliver a reply as a :class:`RequestDone` message to ``ref``, carrying ``tag``, instead of a future."""

    ref: pykka.ActorRef[Any]
    tag: Any


class RequestDone(msgspec.Struct, frozen=True):
    """Told to the actor of an :class:`ActorReply`: the raw result, or the error, of its request."""

    tag: Any
    result: msgspec.Raw | None = None
    error: BaseException | None = None


class CallbackReply(msgspec.Struct, frozen=True):
    """Deliver a reply by calling ``callback(value, error)`` on the answering thread (it must not block).

    This is how asyncio callers wait without holding a thread: the callback hands the outcome to their loop.
    """

    callback: Callable[[Any, BaseException | None], None]


#: Where an answer goes: a future the asker waits on, a message to an actor, or a callback.
ReplyTo: TypeAlias = "pykka.Future[Any] | ActorReply | CallbackReply"


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


# -- thread actor messages --------------------------------------------------------------------------------------


class NotificationBatch(msgspec.Struct, frozen=True):
    """Tell (from the reader thread): everything one read brought for this thread, in order."""

    items: Sequence[ServerNotification]


class DrainNotifications(msgspec.Struct, frozen=True):
    """Tell (from the reader thread, to a thread actor): batches wait in your intake; process them all."""


class TurnStarted(msgspec.Struct, frozen=True):
    """The answer to :class:`StartTurn`: the turn id, its event log, and the caller's subscriber id in it."""

    turn_id: str
    log: TurnLog[Notification]
    subscriber: int


class StartTurn(msgspec.Struct, frozen=True):
    """Tell: send ``turn/start`` with ``params`` (``threadId`` is filled in); ``reply`` gets :class:`TurnStarted`.

    If the thread already has an active turn the engine joins it and returns its id: the new subscriber then
    sees that whole turn from its first event.
    """

    params: dict[str, Any]
    reply: ReplyTo


class RunTurn(msgspec.Struct, frozen=True):
    """Tell: start a turn and, when it ends, tell ``reply_to`` a :class:`TurnFinished`. For actors."""

    params: dict[str, Any]
    reply_to: pykka.ActorRef[Any]
    tag: Any = None


class TurnFinished(msgspec.Struct, frozen=True):
    """Told to a :class:`RunTurn` sender: the turn's result, or the error that ended it.

    ``turn_id`` is ``None`` when the turn never started.
    """

    thread_id: str
    turn_id: str | None
    result: TurnResult | None
    error: BaseException | None
    tag: Any = None


class SubscribeTurn(msgspec.Struct, frozen=True):
    """Tell: a new subscriber of ``turn_id``'s log; ``reply`` gets :class:`TurnStarted`.

    It reads from the log's start, or (``from_start=False``) only what comes next. A turn never seen before
    gets an empty log.
    """

    turn_id: str
    from_start: bool
    reply: ReplyTo


class ThreadRequest(msgspec.Struct, frozen=True):
    """Tell: send a request about this thread through the current engine (held while the thread is resumed)."""

    method: str
    params: dict[str, Any]
    reply: ReplyTo


class EngineDown(msgspec.Struct, frozen=True):
    """Tell (from the root supervisor): the engine died; in-flight turns fail with ``error``."""

    error: BaseException


class EngineUp(msgspec.Struct, frozen=True):
    """Tell (from the root supervisor): a new engine is up; resume the thread on it."""

    connection: EngineConnection


# -- service actor messages -------------------------------------------------------------------------------------


class HandleServerRequest(msgspec.Struct, frozen=True):
    """Tell (from the reader thread): answer this server request through ``connection``."""

    request: ServerRequest
    connection: EngineConnection


class UnownedNotifications(msgspec.Struct, frozen=True):
    """Tell (from the reader thread, to telemetry): notifications that belong to no live thread actor."""

    items: Sequence[ServerNotification]


class StartEngine(msgspec.Struct, frozen=True):
    """Ask the root supervisor: start the engine child; answers its :class:`EngineConnection` or raises."""


class GetEngine(msgspec.Struct, frozen=True):
    """Ask the root supervisor: the current :class:`EngineConnection` (raises once it gave up)."""


class StartThread(msgspec.Struct, frozen=True):
    """Ask the root supervisor: the actor of ``thread_id``, started if it is not running."""

    thread_id: str


class WaitLogin(msgspec.Struct, frozen=True):
    """Tell the root supervisor: answer ``reply`` with the ``account/login/completed`` of ``login_id``."""

    login_id: str
    reply: ReplyTo


class StopThread(msgspec.Struct, frozen=True):
    """Ask the root supervisor: stop the actor of ``thread_id`` (the thread itself lives on in the engine)."""

    thread_id: str
