"""The engine port: one actor per ``codex app-server`` process, and the handle callers use to talk to it.

:class:`EnginePort` owns the process. Its mailbox serializes everything written to the engine (requests,
notifications, answers to server requests). Its reader thread decodes stdout and never goes through the mailbox:
replies complete the asker's future directly, notifications go in per-thread batches to the sinks of a
:class:`~codex_actors.actors._router.Router`, server requests to the router's request sink.

:class:`EngineConnection` is the caller's side: ``request`` (with a timeout), ``notify``, ``reply``, ``close``.
Every failure a caller can see is typed: :class:`~codex_actors.errors.TransportClosedError` once the engine is
gone (never a raw ``BrokenPipeError``), :class:`~codex_actors.errors.RequestTimeoutError`, or the mapped
:class:`~codex_actors.errors.JsonRpcError`.
"""

from __future__ import annotations

import contextlib
import itertools
import operator
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
import pykka

from .._binary import build_launch
from .._config import CodexConfig
from .._protocol.framing import DEFAULT_MAX_LINE_BYTES, LineSplitter, split_lines
from .._protocol.jsonrpc import (
    ErrorResponse,
    RequestId,
    Response,
    ServerNotification,
    ServerRequest,
    decode_block,
    decode_lines,
    decode_payload,
    encode_error,
    encode_notification,
    encode_request,
    encode_result,
)
from ..errors import ProtocolError, RequestTimeoutError, TransportClosedError, map_jsonrpc_error
from ._messages import (
    ActorReply,
    CancelRequest,
    Connect,
    EngineExited,
    EngineExitedEvent,
    GetStatus,
    LineDroppedEvent,
    PortStatus,
    ProtocolErrorEvent,
    ReplyError,
    ReplyResult,
    ReplyTo,
    SendNotification,
    SendRequest,
)
from ._process import DEFAULT_STDERR_TAIL_BYTES, EngineProcess
from ._reply import reply_error, reply_value
from ._router import NotificationSink, Router
from ._supervisor import ChildContext, SupervisedActor

__all__ = ["UNHANDLED_SERVER_REQUEST", "Connecting", "EngineConnection", "EnginePort", "PortOptions", "unhandled"]

T = TypeVar("T")

_PAYLOAD_THREAD_ID = operator.attrgetter("payload.thread_id")

NOT_RUNNING = "Codex process is not running"
#: JSON-RPC code used to refuse a server request nobody handles (the engine then fails that item, not hangs).
UNHANDLED_SERVER_REQUEST = -32601


def unhandled(request: ServerRequest) -> ReplyError:
    """The answer to a server request nobody handles: a JSON-RPC error, never the schema-invalid ``{}``."""
    message = f"codex-actors has no handler for server request {request.method!r}"
    return ReplyError(request.id, UNHANDLED_SERVER_REQUEST, message)


@dataclass(frozen=True, slots=True)
class PortOptions:
    """Limits and timeouts of one port. The defaults suit long-lived processes."""

    #: Default seconds a request waits for its reply.
    request_timeout: float = 120.0
    #: Seconds for the process to start and answer ``initialize``.
    connect_timeout: float = 60.0
    #: Longest line accepted from the engine; longer ones are dropped and reported.
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    #: Bytes of the engine's stderr kept for error messages.
    stderr_tail_bytes: int = DEFAULT_STDERR_TAIL_BYTES
    #: Bytes asked for per read of the engine's stdout.
    read_size: int = 1024 * 1024
    #: On close: seconds to wait after closing stdin, then after SIGTERM, before SIGKILL.
    close_grace: float = 2.0
    term_grace: float = 1.0


class _Pending:
    """Requests written and not yet answered. Shared by the actor (adds) and the reader thread (completes).

    Once closed (the engine is gone) it accepts nothing more, so no request can slip in after the last failure
    sweep and wait for a reply that will never come.
    """

    __slots__ = ("_closed", "_items", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[int, ReplyTo] = {}
        self._closed = False

    def __len__(self) -> int:
        return len(self._items)

    def add(self, request_id: int, future: ReplyTo) -> bool:
        with self._lock:
            if self._closed:
                return False
            self._items[request_id] = future
            return True

    def pop(self, request_id: RequestId | None) -> ReplyTo | None:
        if not isinstance(request_id, int):
            return None
        with self._lock:
            return self._items.pop(request_id, None)

    def cancel(self, future: ReplyTo) -> None:
        with self._lock:
            for request_id, waiting in list(self._items.items()):
                if waiting is future:
                    del self._items[request_id]

    def close(self) -> list[ReplyTo]:
        with self._lock:
            self._closed = True
            items = list(self._items.values())
            self._items.clear()
            return items


class EnginePort(SupervisedActor):
    """The actor that owns one engine process. Start it, then ask it :class:`Connect`.

    Supervised (with a ``context``), it crashes when its engine dies, so that its supervisor starts a fresh
    engine. Unsupervised, it stays up answering every request with the engine's exit error until stopped.
    """

    use_daemon_thread = True

    def __init__(
        self,
        config: CodexConfig,
        router: Router,
        options: PortOptions | None = None,
        *,
        context: ChildContext | None = None,
        process: EngineProcess | None = None,
    ) -> None:
        super().__init__(context)
        self._spawned = process  # an engine already started for this port (see spawn), adopted on Connect
        self._config = config
        self._router = router
        self._options = options or PortOptions()
        self._ids = itertools.count(1)
        self._pending = _Pending()
        self._process: EngineProcess | None = None
        self._splitter = LineSplitter(self._options.max_line_bytes)
        self._closing = threading.Event()
        self._gone_lock = threading.Lock()
        self._exit_code: int | None = None
        self._closed_error: TransportClosedError | None = None
        self._handshake: ReplyTo | None = None

    # -- the actor thread -------------------------------------------------------------------------------------

    def on_receive(self, message: Any) -> Any:
        """Dispatch one typed message."""
        match message:
            case SendRequest():
                self._send_request(message.method, message.params, message.reply)
            case SendNotification():
                self._write_or_log(encode_notification(message.method, message.params))
            case ReplyResult():
                self._write_or_log(encode_result(message.id, message.result))
            case ReplyError():
                self._write_or_log(encode_error(message.id, message.code, message.message, message.data))
            case CancelRequest():
                self._pending.cancel(message.reply)
            case EngineExited():
                self._on_engine_exited(message.exit_code)
            case Connect():
                self._connect(message.reply)
            case GetStatus():
                return self._status()
            case _:
                raise TypeError(f"EnginePort got an unknown message: {message!r}")
        return None

    def on_stop(self) -> None:
        """Stop the engine and fail whatever still waits."""
        self._shutdown()
        super().on_stop()

    def on_failure(self, *exc_info: Any) -> None:
        """Same cleanup as a normal stop (no process or thread may outlive the actor), then report the crash."""
        self._shutdown()
        super().on_failure(*exc_info)

    def _connect(self, reply: ReplyTo) -> None:
        if self._process is not None:
            raise RuntimeError("EnginePort is already connected")
        self._process, self._spawned = self._spawned or self.spawn(self._config, self._options), None
        config = self._config
        params = {
            "clientInfo": {
                "name": config.client_name,
                "title": config.client_title,
                "version": config.client_version,
            },
            "capabilities": {"experimentalApi": config.experimental_api},
        }
        self._handshake = reply
        self._send_request("initialize", params, reply)
        # Only now the reader threads: the engine takes tens of milliseconds to answer, and starting them
        # while it boots keeps them off the startup's critical path (its answer waits in the pipe meanwhile).
        self._process.start_reading(self._on_stdout, self._on_stdout_end)

    def _status(self) -> PortStatus:
        process = self._process
        return PortStatus(
            pid=None if process is None else process.pid,
            running=process is not None and process.poll() is None and self._closed_error is None,
            pending_requests=len(self._pending),
            exit_code=self._exit_code,
        )

    def _send_request(self, method: str, params: Any, reply: ReplyTo) -> None:
        if self._closed_error is not None or self._process is None:
            reply_error(reply, self._transport_error())
            return
        request_id = next(self._ids)
        try:
            line = encode_request(request_id, method, params)
        except (TypeError, ValueError, msgspec.EncodeError) as exc:
            reply_error(reply, exc)
            return
        if not self._pending.add(request_id, reply):
            reply_error(reply, self._transport_error())
            return
        try:
            self._process.write(line)
        except (OSError, ValueError):
            self._engine_gone()  # fails this request too, with the exit code and stderr tail

    def _write(self, line: bytes) -> None:
        if self._closed_error is not None or self._process is None:
            raise self._transport_error()
        try:
            self._process.write(line)
        except (OSError, ValueError):
            self._engine_gone()
            raise self._transport_error() from None

    def _write_or_log(self, line: bytes) -> None:
        # A notification or an answer to a server request has nobody waiting on it: if the engine is gone,
        # the loss is already reported by the exit event.
        with contextlib.suppress(TransportClosedError):
            self._write(line)

    def _transport_error(self) -> TransportClosedError:
        if self._closed_error is not None:
            error = self._closed_error
            return TransportClosedError(str(error), exit_code=error.exit_code, stderr_tail=error.stderr_tail)
        return TransportClosedError(NOT_RUNNING)

    def _on_engine_exited(self, exit_code: int | None) -> None:
        self._exit_code = exit_code
        if self._process is not None:
            self._process.stop(grace=0.0, term_grace=self._options.term_grace)
        if self.context is not None:
            self.crash(self._transport_error())

    @staticmethod
    def spawn(config: CodexConfig, options: PortOptions) -> EngineProcess:
        """Start an engine process for a port to adopt (``EnginePort(..., process=)``); nothing reads it yet."""
        return EngineProcess(
            build_launch(config), read_size=options.read_size, stderr_tail_bytes=options.stderr_tail_bytes
        )

    def _shutdown(self) -> None:
        self._closing.set()
        if self._spawned is not None:  # never connected: the engine started for it goes too
            self._spawned.stop(grace=0.0, term_grace=self._options.term_grace)
            self._spawned = None
        with self._gone_lock:
            if self._closed_error is None:
                self._closed_error = TransportClosedError(NOT_RUNNING)
        process = self._process
        if process is not None:
            self._exit_code = process.stop(grace=self._options.close_grace, term_grace=self._options.term_grace)
        for future in self._pending.close():
            reply_error(future, self._transport_error())
        self._fail_queued_requests()

    def _fail_queued_requests(self) -> None:
        """Answer the requests still in the mailbox: pykka would drop them (it only fails queued asks)."""
        kept = []
        while not self.actor_inbox.empty():
            envelope = self.actor_inbox.get()  # only this thread takes from the inbox: never blocks
            if isinstance(envelope.message, SendRequest):
                reply_error(envelope.message.reply, self._transport_error())
            else:
                kept.append(envelope)
        for envelope in kept:
            self.actor_inbox.put(envelope)

    # -- the reader thread ------------------------------------------------------------------------------------

    def _on_stdout(self, chunk: bytes) -> None:
        split = self._splitter.feed(chunk)
        if split.dropped:
            pid = self._pid()
            for size in split.dropped:
                self._router.events(LineDroppedEvent(pid, size, self._options.max_line_bytes))
        if split.block:
            self._dispatch_block(split.block)

    def _dispatch_block(self, block: bytes) -> None:
        batch = decode_block(block)
        if batch is None:  # not only notifications: one line at a time, in order
            self._dispatch(split_lines(block))
            return
        try:
            threads = set(map(_PAYLOAD_THREAD_ID, batch))
        except AttributeError:  # a payload without a thread: sorted one by one below
            threads = set()
        if len(threads) == 1:  # the common case: a read of one thread's events, routed without a loop
            self._router.sink_for(threads.pop())(batch)
            return
        batches: dict[int, tuple[NotificationSink, list[ServerNotification]]] = {}
        for note in batch:
            self._add(batches, note)
        self._flush(batches)

    def _dispatch(self, lines: Sequence[bytes]) -> None:
        batches: dict[int, tuple[NotificationSink, list[ServerNotification]]] = {}
        router = self._router
        for line, message in zip(lines, decode_lines(lines), strict=True):
            if isinstance(message, ServerNotification):
                self._add(batches, message)
                continue
            if type(message) is ProtocolError:
                router.events(ProtocolErrorEvent(self._pid(), str(message), line[:200]))
                handshake = self._handshake
                if handshake is not None:  # not an app-server at all: fail the connect now, as the official SDK
                    self._handshake = None
                    self._pending.cancel(handshake)
                    reply_error(handshake, ProtocolError(f"Invalid JSON-RPC line: {line[:200]!r}"))
                continue
            # Keep order across kinds: what was read before a reply or a server request is delivered first.
            self._flush(batches)
            if isinstance(message, ServerRequest):
                self._on_server_request(message)
            elif isinstance(message, Response | ErrorResponse):
                self._on_reply(message)
        self._flush(batches)

    def _add(
        self, batches: dict[int, tuple[NotificationSink, list[ServerNotification]]], note: ServerNotification
    ) -> None:
        sink = self._router.sink_for(note.thread_id)
        entry = batches.get(id(sink))
        if entry is None:
            batches[id(sink)] = (sink, [note])
        else:
            entry[1].append(note)

    @staticmethod
    def _flush(batches: dict[int, tuple[NotificationSink, list[ServerNotification]]]) -> None:
        for sink, batch in batches.values():
            sink(batch)
        batches.clear()

    def _on_reply(self, message: Response | ErrorResponse) -> None:
        future = self._pending.pop(message.id)
        if future is None:
            return  # a reply to a request its asker gave up on
        if future is self._handshake:  # the engine answered ``initialize``
            self._handshake = None
        if isinstance(message, Response):
            reply_value(future, message.result)
        else:
            error = message.error
            reply_error(future, map_jsonrpc_error(error.code, error.message, error.data))

    def _on_server_request(self, request: ServerRequest) -> None:
        handler = self._router.requests
        if handler is None:
            self.actor_ref.tell(unhandled(request))
            return
        handler(request)

    def _on_stdout_end(self) -> None:
        self._dispatch(self._splitter.finish().lines)  # an unterminated last line, if any
        if not self._closing.is_set():
            self._engine_gone()

    def _engine_gone(self) -> None:
        """The engine died or quit on its own: record why, fail every waiter, report it. Any thread; once."""
        with self._gone_lock:
            process = self._process
            if self._closed_error is not None or process is None:
                return
            exit_code = process.wait_exit(1.0)
            process.join_stderr(0.5)
            tail = process.stderr_tail.summary()
            self._closed_error = TransportClosedError(
                f"Codex process closed stdout. stderr_tail={tail}", exit_code=exit_code, stderr_tail=tail
            )
        for future in self._pending.close():
            reply_error(future, self._transport_error())
        self._router.events(EngineExitedEvent(process.pid, exit_code, process.stderr_tail.text()))
        with contextlib.suppress(pykka.ActorDeadError):
            self.actor_ref.tell(EngineExited(exit_code))

    def _pid(self) -> int:
        return -1 if self._process is None else self._process.pid


class Connecting:
    """A handshake under way (from :meth:`EngineConnection.begin`): :meth:`finish` waits for it."""

    def __init__(self, connection: EngineConnection, handshake: pykka.Future[msgspec.Raw]) -> None:
        self._connection = connection
        self._handshake = handshake

    def finish(self) -> EngineConnection:
        """The connection once the engine has answered ``initialize``; on failure the port is stopped."""
        connection = self._connection
        timeout = connection.options.connect_timeout
        try:
            try:
                raw = self._handshake.get(timeout=timeout)
            except pykka.Timeout:
                raise RequestTimeoutError("initialize", timeout) from None
            connection.initialize_result = decode_payload(raw, dict[str, Any])
            connection.notify("initialized")
        except BaseException:
            connection.close()
            raise
        return connection


class EngineConnection:
    """The caller's handle on one :class:`EnginePort`: typed requests with timeouts, and a clean close."""

    def __init__(self, ref: pykka.ActorRef[EnginePort], router: Router, options: PortOptions) -> None:
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
        options: PortOptions | None = None,
    ) -> EngineConnection:
        """Start an unsupervised engine port and complete the handshake; on failure nothing is left running."""
        options = options or PortOptions()
        router = router or Router()
        return cls.connect(EnginePort.start(config or CodexConfig(), router, options), router, options)

    @classmethod
    def connect(cls, ref: pykka.ActorRef[EnginePort], router: Router, options: PortOptions) -> EngineConnection:
        """Ask a started port to spawn its engine and run the handshake; on failure the port is stopped."""
        return cls.begin(ref, router, options).finish()

    @classmethod
    def begin(cls, ref: pykka.ActorRef[EnginePort], router: Router, options: PortOptions) -> Connecting:
        """Ask a started port to spawn its engine and run the handshake, without waiting for it."""
        connection = cls(ref, router, options)
        handshake: pykka.Future[msgspec.Raw] = pykka.ThreadingFuture()
        try:
            ref.ask(Connect(handshake), block=True, timeout=options.connect_timeout + 30)  # spawned, not answered
        except BaseException:
            connection.close()
            raise
        return Connecting(connection, handshake)

    def request_future(self, method: str, params: Any = None) -> pykka.Future[msgspec.Raw]:
        """Send a request without waiting; the future holds the raw result or raises the mapped error."""
        future: pykka.Future[msgspec.Raw] = pykka.ThreadingFuture()
        try:
            self.ref.tell(SendRequest(method, params, future))
        except pykka.ActorDeadError:
            reply_error(future, TransportClosedError(NOT_RUNNING))
        return future

    def request_to(self, method: str, params: Any, ref: pykka.ActorRef[Any], tag: Any) -> None:
        """Send a request whose reply is told to ``ref`` as ``RequestDone(tag, ...)`` (never blocks)."""
        reply = ActorReply(ref, tag)
        try:
            self.ref.tell(SendRequest(method, params, reply))
        except pykka.ActorDeadError:
            reply_error(reply, TransportClosedError(NOT_RUNNING))

    def request(self, method: str, params: Any = None, *, timeout: float | None = None) -> msgspec.Raw:
        """Send a request and wait for its raw result (``timeout`` defaults to the port's)."""
        wait = self.options.request_timeout if timeout is None else timeout
        future = self.request_future(method, params)
        try:
            return future.get(timeout=wait)
        except pykka.Timeout:
            with contextlib.suppress(pykka.ActorDeadError):
                self.ref.tell(CancelRequest(future))
            raise RequestTimeoutError(method, wait) from None

    def call(
        self,
        method: str,
        params: Any = None,
        *,
        result_type: type[T],
        timeout: float | None = None,
    ) -> T:
        """Send a request and decode its result into ``result_type``."""
        return decode_payload(self.request(method, params, timeout=timeout), result_type)

    def notify(self, method: str, params: Any = None) -> None:
        """Send a client notification."""
        self._tell(SendNotification(method, params))

    def reply(self, request_id: RequestId, result: Any) -> None:
        """Answer a server request."""
        self._tell(ReplyResult(request_id, result))

    def reply_error(self, request_id: RequestId, code: int, message: str, data: Any = None) -> None:
        """Answer a server request with an error."""
        self._tell(ReplyError(request_id, code, message, data))

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
            raise TransportClosedError(NOT_RUNNING) from None

    def __enter__(self) -> EngineConnection:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
