"""The typed messages the actors exchange: every one a frozen ``msgspec.Struct``, each saying how it travels.

"Tell" messages are fire-and-forget; "Ask" ones are answered (pykka's ``ask``). A message that carries a
``reply`` (a :data:`~codex_actors.actors._reply.ReplyTo`) is answered by completing it, so the sender never
blocks the actor that answers. This module is a leaf of the actor layer: it names the connection an actor
talks through by the :class:`EngineHandle` protocol, not by its class.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

import msgspec

from .._protocol.jsonrpc import RequestId, ServerNotification, ServerRequest
from ..models import Notification
from ._reply import ReplyTo

if TYPE_CHECKING:
    from .._inputs import RunInput
    from .._modes import ApprovalMode, Sandbox
    from .._protocol.generated import Personality, ReasoningEffort, ReasoningSummary
    from .._results import TurnResult
    from ..errors import LineTooLongError
    from ..models import JsonObject
    from ._turnlog import TurnLog

__all__ = [
    "NO_HANDLER_CODE",
    "Abandon",
    "CancelRequest",
    "Connect",
    "DrainNotifications",
    "EngineDown",
    "EngineExitedEvent",
    "EngineHandle",
    "EngineStartedEvent",
    "EngineUp",
    "GetConnection",
    "GetCounts",
    "GetStatus",
    "HandleServerRequest",
    "HandlerEvent",
    "HoldRequest",
    "IdleCheck",
    "LineDroppedEvent",
    "LineTooLongNote",
    "MoveThread",
    "NotificationSink",
    "PortEvent",
    "PortStatus",
    "ProtocolErrorEvent",
    "ReleaseThread",
    "ReplyError",
    "ReplyResult",
    "RetryResume",
    "RunTurn",
    "SendNotification",
    "SendRequest",
    "StartEngine",
    "StartThread",
    "StartTurn",
    "StopThread",
    "SubscribeTurn",
    "TelemetryEvent",
    "ThreadMoved",
    "ThreadRequest",
    "TurnDeadline",
    "TurnFinished",
    "TurnStarted",
    "UnownedNotifications",
    "WaitLogin",
]

#: JSON-RPC code used to refuse a server request nobody handles (the engine then fails that item, not hangs).
NO_HANDLER_CODE = -32601

#: Where the reader thread hands a batch of notifications (it must not block: a ``tell``, a bounded append).
NotificationSink: TypeAlias = Callable[[Sequence[ServerNotification]], None]


class EngineHandle(Protocol):
    """What an actor needs of its engine connection (:class:`~codex_actors.actors._connection.EngineConnection`).

    None of these block; a request's answer goes to its ``reply``, a failure to deliver becomes a typed error
    there (or is raised, for the answers to server requests).
    """

    @property
    def alive(self) -> bool:
        """Whether the engine's port is still running."""
        ...

    def send(self, method: str, params: Any, reply: ReplyTo, trace: dict[str, str] | None = None) -> None:
        """Write a request (``trace``: its W3C trace context); its raw result or mapped error goes to ``reply``."""
        ...

    def cancel(self, reply: ReplyTo) -> None:
        """Forget a request whose asker stopped waiting."""
        ...

    def reply(self, request_id: RequestId, result: Any) -> None:
        """Answer a server request."""
        ...

    def reply_error(self, request_id: RequestId, code: int, message: str, data: Any = None) -> None:
        """Answer a server request with a JSON-RPC error."""
        ...

    def bind_thread(self, thread_id: str, sink: NotificationSink) -> None:
        """Route this thread's notifications to ``sink``."""
        ...

    def unbind_thread(self, thread_id: str, sink: NotificationSink) -> None:
        """Stop routing this thread's notifications to ``sink`` (if it is still the bound one)."""
        ...


# -- the port: told or asked to EnginePort -----------------------------------------------------------------------


class Abandon(msgspec.Struct, frozen=True):
    """Tell (to a port): give up on this engine (its handshake failed); crash with ``error`` as the reason."""

    error: BaseException


class Connect(msgspec.Struct, frozen=True):
    """Ask: adopt (or start) the engine process and send ``initialize``; answered once the request is written.

    The engine's answer (the raw ``initialize`` result, or the error) goes to ``reply``; the asker then tells
    ``initialized`` (see :class:`~codex_actors.actors._connection.PendingHandshake`). A failure to spawn is
    raised to the asker.
    """

    reply: ReplyTo


class SendRequest(msgspec.Struct, frozen=True):
    """Tell: write a request; its reply (the raw result or the mapped error) goes to ``reply``."""

    method: str
    params: Any
    reply: ReplyTo
    #: The W3C trace context to send with it (the JSON-RPC ``trace`` field), if any.
    trace: dict[str, str] | None = None


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

    @classmethod
    def refusal(cls, request: ServerRequest) -> ReplyError:
        """The answer to a server request nobody handles: an error, never the schema-invalid ``{}``."""
        message = f"codex-actors has no handler for server request {request.method!r}"
        return cls(request.id, NO_HANDLER_CODE, message)


class GetStatus(msgspec.Struct, frozen=True):
    """Ask: the port's :class:`PortStatus`."""


class PortStatus(msgspec.Struct, frozen=True):
    """The answer to :class:`GetStatus`: the process, and the requests still waiting for replies."""

    pid: int | None
    running: bool
    pending_requests: int
    exit_code: int | None


# -- port events: what the port reports (to telemetry, through the router) ---------------------------------------


class ProtocolErrorEvent(msgspec.Struct, frozen=True):
    """The engine wrote a line that is not JSON-RPC; it was dropped and reading went on."""

    pid: int
    error: str
    line_head: bytes


class LineDroppedEvent(msgspec.Struct, frozen=True):
    """The engine wrote a line longer than the port's limit; it was dropped and reading resynchronized.

    The other fields are what its first and last bytes told (``None``: not seen): the JSON-RPC id of a reply
    or a server request, the method, and the ``threadId``/``turnId`` of its params.
    """

    pid: int
    size: int
    limit: int
    request_id: RequestId | None = None
    method: str | None = None
    thread_id: str | None = None
    turn_id: str | None = None


class EngineExitedEvent(msgspec.Struct, frozen=True):
    """The engine's stdout ended while the port was not closing it: the engine died or quit on its own."""

    pid: int
    exit_code: int | None
    stderr_tail: str


class EngineStartedEvent(msgspec.Struct, frozen=True):
    """The port started (or adopted) its engine process: its pid, and the port's generation (0, then +1)."""

    pid: int
    generation: int


PortEvent: TypeAlias = ProtocolErrorEvent | LineDroppedEvent | EngineExitedEvent | EngineStartedEvent


# -- a thread actor: told by the runtime, by other actors and by the reader thread -------------------------------


class LineTooLongNote(Notification, frozen=True, gc=False):
    """In a thread's intake, in the place of a dropped line of the thread: its turn fails with ``error``.

    ``payload`` is an :class:`~codex_actors.models.UnknownNotification` holding the ``threadId`` and ``turnId``
    (when known) the line's ends told; ``method`` is the dropped line's. With no turn id, every running turn of
    the thread fails. It travels with the thread's other notifications, so no event read after the dropped line
    (a ``turn/completed``) is handled before it. It never reaches a turn's log.
    """

    error: LineTooLongError | None = None


class DrainNotifications(msgspec.Struct, frozen=True):
    """Tell (from the reader thread): batches wait in your intake; process them all."""


class TurnStarted(msgspec.Struct, frozen=True):
    """The answer to :class:`StartTurn` and :class:`SubscribeTurn`: the turn id, its log, a cursor in it."""

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
    #: The caller's W3C trace context (``{"traceparent": ...}``): sent with the ``turn/start``, and in telemetry.
    trace: dict[str, str] | None = None


class RunTurn(msgspec.Struct, frozen=True, kw_only=True):
    """Tell: run a turn as ``Thread.run`` would; when it ends, ``reply_to`` is told a :class:`TurnFinished`.

    ``input`` and the options are ``Thread.run``'s (a ``str`` or input items; ``sandbox``, ``approval_mode``,
    ``output_type``...). ``reply_to`` is anything with a ``tell(message)`` method (a ``pykka.ActorRef``, a
    :class:`~codex_actors.actors.ThreadRef`...), or ``None`` to run the turn without an answer; ``tag`` comes
    back in the answer. Asked through a ``ThreadRef``, the answer is the :class:`TurnFinished` itself.
    """

    input: RunInput
    reply_to: Any = None
    tag: Any = None
    #: The caller's W3C trace context (``{"traceparent": ...}``): sent with the ``turn/start``, and in telemetry.
    trace: dict[str, str] | None = None
    approval_mode: ApprovalMode | None = None
    cwd: str | None = None
    effort: ReasoningEffort | None = None
    model: str | None = None
    output_schema: JsonObject | None = None
    personality: Personality | None = None
    sandbox: Sandbox | None = None
    service_tier: str | None = None
    source: str | None = None
    summary: ReasoningSummary | None = None
    turn_service_tier: str | None = None
    output_type: Any = None


class TurnFinished(msgspec.Struct, frozen=True):
    """Told to a :class:`RunTurn` sender: the turn's result, or the error that ended it.

    ``error`` is what ``Thread.run`` would raise (``RuntimeError`` for a failed turn, ``OutputValidationError``
    for a final response that does not fit ``output_type``, ``TransportClosedError`` when the engine died...);
    ``result`` is the turn's result whenever the turn completed, failed or not (with ``parsed`` set for an
    ``output_type``). ``turn_id`` is ``None`` when the turn never started.
    """

    thread_id: str
    turn_id: str | None
    result: TurnResult | None
    error: BaseException | None
    tag: Any = None


class SubscribeTurn(msgspec.Struct, frozen=True):
    """Tell: a new subscriber of ``turn_id``'s log; ``reply`` gets :class:`TurnStarted`.

    It reads from the log's start, or (``from_start=False``) only what comes next. A turn never seen before
    gets an empty log; one that ended long ago an ended one.
    """

    turn_id: str
    from_start: bool
    reply: ReplyTo


class ThreadRequest(msgspec.Struct, frozen=True):
    """Tell: send a request about this thread through the current engine (held while the thread is resumed)."""

    method: str
    params: dict[str, Any]
    reply: ReplyTo


class IdleCheck(msgspec.Struct, frozen=True):
    """Tell (from the runtime's timers): the idle time may be over; hibernate if nothing happened since."""


class RetryResume(msgspec.Struct, frozen=True):
    """Tell (from the runtime's timers): the backoff after a transient ``thread/resume`` failure is over."""


class TurnDeadline(msgspec.Struct, frozen=True):
    """Tell (from the runtime's timers): ``turn_id``'s time is up, or the grace after its ``turn/interrupt`` is.

    The first comes ``RuntimeOptions.turn_timeout`` after the engine accepted the turn; the second, for a turn
    timed out already, when the engine was given long enough to end it.
    """

    turn_id: str


class ReleaseThread(msgspec.Struct, frozen=True):
    """Tell (from the runtime): the last ``Thread`` object is gone; hibernate as soon as the actor is idle."""


class EngineDown(msgspec.Struct, frozen=True):
    """Tell (from the root supervisor): the engine died; in-flight turns fail with ``error``."""

    error: BaseException


class EngineUp(msgspec.Struct, frozen=True):
    """Tell (from the root supervisor): a new engine is up; resume the thread on it."""

    connection: EngineHandle


# -- the service actors ------------------------------------------------------------------------------------------


class HandlerEvent(msgspec.Struct, frozen=True):
    """A service ran user code and it went wrong (or was cut off): told to the telemetry actor.

    ``service`` is ``"tools"`` or ``"approvals"``; ``kind`` what happened (``"raised"``, ``"timed_out"``,
    ``"invalid_arguments"``, ``"unknown_tool"``, ``"invalid_decision"``...); ``name`` the tool or policy;
    ``detail`` a one-line description.
    """

    service: str
    kind: str
    name: str
    thread_id: str | None = None
    detail: str = ""


class TelemetryEvent(msgspec.Struct, frozen=True, gc=False):
    """Tell (to the telemetry actor): one event of the catalogue (``codex_actors._telemetry_events.EVENTS``).

    ``measurements`` are numbers (``system_time`` always among them); ``metadata`` plain values, never secrets.
    """

    name: str
    measurements: dict[str, float]
    metadata: dict[str, Any]


class HandleServerRequest(msgspec.Struct, frozen=True):
    """Tell (from the reader thread, to tools or approvals): answer this server request through ``connection``."""

    request: ServerRequest
    connection: EngineHandle


class UnownedNotifications(msgspec.Struct, frozen=True):
    """Tell (from the reader thread, to telemetry): notifications that belong to no live thread actor."""

    items: Sequence[ServerNotification]


class GetCounts(msgspec.Struct, frozen=True):
    """Ask the telemetry actor: a copy of its counters (by notification method, or by event class name)."""


# -- the root supervisor: asked by the runtime ------------------------------------------------------------------


class StartEngine(msgspec.Struct, frozen=True):
    """Ask: start the engine children (one per engine of the pool); answers their connections or raises."""


class GetConnection(msgspec.Struct, frozen=True):
    """Tell (to the root): ``reply`` gets engine ``engine``'s connection once it is up (or why it can't be)."""

    reply: ReplyTo
    engine: int = 0


class HoldRequest(msgspec.Struct, frozen=True):
    """Tell (to the root): send this request on the engine once one is up (or fail it once none can be).

    ``bounced`` is the connection whose engine was gone when the request got to it (it is not sent there again);
    ``engine`` the index of the engine of the pool it is for.
    """

    method: str
    params: Any
    reply: ReplyTo
    bounced: Any = None
    engine: int = 0


class StartThread(msgspec.Struct, frozen=True):
    """Ask: the actor of ``thread_id``, started if it is not running."""

    thread_id: str


class MoveThread(msgspec.Struct, frozen=True):
    """Tell (thread actor to root): another engine of the pool holds this thread; place it on one not ``tried``.

    The root answers the actor with :class:`ThreadMoved`.
    """

    thread_id: str
    tried: frozenset[int]


class ThreadMoved(msgspec.Struct, frozen=True):
    """Tell (root to thread actor): the thread lives on ``engine`` now (``connection``: ``None`` while down)."""

    engine: int
    connection: EngineHandle | None


class StopThread(msgspec.Struct, frozen=True):
    """Ask: stop the actor of ``thread_id`` (the thread itself lives on in the engine)."""

    thread_id: str


class WaitLogin(msgspec.Struct, frozen=True):
    """Tell: answer ``reply`` with the ``account/login/completed`` of ``login_id``."""

    login_id: str
    reply: ReplyTo
