"""The caller's side of an engine port: :class:`EngineConnection`, and the handshake that opens one.

An :class:`EngineConnection` is what actors (through the :class:`~codex_actors.actors._messages.EngineHandle`
protocol) and tests hold: requests whose answers go to a reply (never blocking), or a blocking ``request`` with
a timeout; the answers to server requests; the routing of a thread's notifications; and a clean ``close``.
"""

from __future__ import annotations

import contextlib
from typing import Any

import msgspec
import pykka

from .._config import CodexConfig
from .._failures import not_running
from .._logs import log_timeout
from .._protocol.jsonrpc import RequestId, decode_payload
from ..errors import RequestTimeoutError
from ._messages import (
    CancelRequest,
    Connect,
    GetStatus,
    NotificationSink,
    PortStatus,
    ReplyError,
    ReplyResult,
    SendNotification,
    SendRequest,
)
from ._options import RuntimeOptions
from ._port import EnginePort
from ._reply import ReplyTo, reply_error
from ._router import Router

__all__ = ["EngineConnection", "PendingHandshake"]


class PendingHandshake:
    """A handshake under way (from :meth:`EngineConnection.handshake`).

    Either :meth:`wait` for it (a first start: the caller waits anyway), or, when the ``initialize`` answer went
    to a reply of one's own (a restart, watched off the supervisor's thread), :meth:`complete` it with that answer.
    """

    def __init__(self, connection: EngineConnection, answer: pykka.Future[msgspec.Raw] | None) -> None:
        self.connection = connection
        self._answer = answer

    def wait(self) -> EngineConnection:
        """The connection once the engine has answered ``initialize``; on failure the port is stopped."""
        connection = self.connection
        timeout = connection.options.connect_timeout
        assert self._answer is not None, "the answer went to the handshake's own reply: use complete()"
        try:
            try:
                raw = self._answer.get(timeout=timeout)
            except pykka.Timeout:
                log_timeout("initialize", timeout)
                raise RequestTimeoutError("initialize", timeout) from None
            self.complete(raw)
        except BaseException:
            connection.close()
            raise
        return connection

    def complete(self, raw: msgspec.Raw) -> EngineConnection:
        """Finish the handshake with the engine's ``initialize`` answer: keep it, tell ``initialized``.

        Raises ``TransportClosedError`` if the port is gone (nothing is stopped here).
        """
        connection = self.connection
        connection.initialize_result = decode_payload(raw, dict[str, Any])
        connection.notify("initialized")
        return connection


class EngineConnection:
    """The handle on one :class:`~codex_actors.actors._port.EnginePort` (an ``EngineHandle``)."""

    def __init__(self, ref: pykka.ActorRef[EnginePort], router: Router, options: RuntimeOptions) -> None:
        self.ref = ref
        self.router = router
        self.options = options
        self.initialize_result: dict[str, Any] = {}

    @classmethod
    def open(
        cls,
        config: CodexConfig | None = None,
        *,
        router: Router | None = None,
        options: RuntimeOptions | None = None,
    ) -> EngineConnection:
        """Start an unsupervised engine port and complete the handshake; on failure nothing is left running."""
        options = options or RuntimeOptions()
        router = router or Router()
        ref = EnginePort.start(config or CodexConfig(), router, options)
        return cls.handshake(ref, router, options).wait()

    @classmethod
    def handshake(
        cls,
        ref: pykka.ActorRef[EnginePort],
        router: Router,
        options: RuntimeOptions,
        reply: ReplyTo | None = None,
    ) -> PendingHandshake:
        """Ask a started port to spawn its engine and send ``initialize``, without waiting for the answer.

        The answer goes to ``reply`` if given (then :meth:`PendingHandshake.complete` it), else to a future that
        :meth:`PendingHandshake.wait` waits on. A failure to spawn is raised here, and the port is stopped.
        """
        connection = cls(ref, router, options)
        future: pykka.Future[msgspec.Raw] | None = None
        if reply is None:
            reply = future = pykka.ThreadingFuture()
        try:
            ref.ask(Connect(reply), block=True, timeout=options.connect_timeout + 30)  # spawned, not answered
        except BaseException:
            connection.close()
            raise
        return PendingHandshake(connection, future)

    # -- what actors use (EngineHandle): nothing blocks -------------------------------------------------------

    @property
    def alive(self) -> bool:
        """Whether the port is still running."""
        return self.ref.is_alive()

    def send(self, method: str, params: Any, reply: ReplyTo, trace: dict[str, str] | None = None) -> None:
        """Write a request (``trace``: its W3C trace context); the raw result or mapped error goes to ``reply``.

        Never raises.
        """
        try:
            self.ref.tell(SendRequest(method, params, reply, trace))
        except pykka.ActorDeadError:
            reply_error(reply, not_running())

    def cancel(self, reply: ReplyTo) -> None:
        """Forget a request whose asker stopped waiting (a late reply is dropped)."""
        with contextlib.suppress(pykka.ActorDeadError):
            self.ref.tell(CancelRequest(reply))

    def reply(self, request_id: RequestId, result: Any) -> None:
        """Answer a server request (``TransportClosedError`` if the port is gone)."""
        self._tell(ReplyResult(request_id, result))

    def reply_error(self, request_id: RequestId, code: int, message: str, data: Any = None) -> None:
        """Answer a server request with an error (``TransportClosedError`` if the port is gone)."""
        self._tell(ReplyError(request_id, code, message, data))

    def bind_thread(self, thread_id: str, sink: NotificationSink) -> None:
        """Route this thread's notifications to ``sink``."""
        self.router.bind_thread(thread_id, sink)

    def unbind_thread(self, thread_id: str, sink: NotificationSink) -> None:
        """Stop routing this thread's notifications to ``sink``, if it is still the bound one."""
        self.router.unbind_thread(thread_id, sink)

    # -- what callers and tests use ---------------------------------------------------------------------------

    def request(self, method: str, params: Any = None, *, timeout: float | None = None) -> msgspec.Raw:
        """Send a request and wait for its raw result (``timeout`` defaults to the options')."""
        wait = self.options.request_timeout if timeout is None else timeout
        future: pykka.Future[msgspec.Raw] = pykka.ThreadingFuture()
        self.send(method, params, future)
        try:
            return future.get(timeout=wait)
        except pykka.Timeout:
            self.cancel(future)
            log_timeout(method, wait)
            raise RequestTimeoutError(method, wait) from None

    def notify(self, method: str, params: Any = None) -> None:
        """Send a client notification (``TransportClosedError`` if the port is gone)."""
        self._tell(SendNotification(method, params))

    def status(self, timeout: float = 10.0) -> PortStatus:
        """The port's process id, whether the engine runs, and how many requests wait."""
        try:
            status: PortStatus = self.ref.ask(GetStatus(), block=True, timeout=timeout)
        except pykka.ActorDeadError:
            return PortStatus(None, False, 0, None)
        return status

    def close(self, timeout: float = 30.0) -> None:
        """Stop the port and its engine (stdin closed, then SIGTERM, then SIGKILL). Idempotent."""
        with contextlib.suppress(pykka.ActorDeadError):
            self.ref.stop(block=True, timeout=timeout)

    def _tell(self, message: Any) -> None:
        try:
            self.ref.tell(message)
        except pykka.ActorDeadError:
            raise not_running() from None

    def __enter__(self) -> EngineConnection:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
