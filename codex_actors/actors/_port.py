"""The engine port: the actor that owns one ``codex app-server`` process and writes everything sent to it.

Its mailbox serializes what goes to the engine (requests, notifications, answers to server requests). What the
engine writes back never goes through the mailbox: the process's reader thread feeds a
:class:`~codex_actors.actors._reader.StdoutDispatcher`, which completes replies straight from the
:class:`~codex_actors.actors._pending.PendingRequests` this actor fills. The caller's side of a port is an
:class:`~codex_actors.actors._connection.EngineConnection`.

Every failure a waiter can see is typed: :class:`~codex_actors.errors.TransportClosedError` once the engine is
gone (never a raw ``BrokenPipeError``), with its exit code and stderr tail when it died. A request whose params
cannot be encoded is answered with :class:`~codex_actors.errors.InvalidInputError` and nothing is written; an
answer to a server request that cannot be encoded is replaced by a JSON-RPC error (the engine never waits). A
request that never reached the engine (it was gone when the request got here) fails as
:class:`~codex_actors._failures.NotSent`, which a :class:`~codex_actors.actors._reply.Redirect` reply hands on to
the next engine.

Liveness: the reader's :class:`~codex_actors.actors._liveness.Watchdog` (``RuntimeOptions.heartbeat_*``) has the
port write a heartbeat after ``heartbeat_interval`` seconds of silence from the engine (from the handshake's
answer on, idle or not); a heartbeat is not a request anyone waits for: its answer is dropped unlogged. If not a
byte comes within ``heartbeat_timeout``, the reader SIGKILLs the engine's process group and the engine is gone
as if it had died, with :class:`~codex_actors.errors.EngineHungError` for every waiter (and the supervisor's
restart).
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import threading
from typing import Any

import msgspec
import pykka

from .._config import CodexConfig
from .._failures import not_running, not_sent
from .._logs import ENGINE
from .._metrics import metrics_for
from .._protocol.jsonrpc import encode_error, encode_notification, encode_request, encode_result
from ..errors import EngineHungError, InvalidInputError, TransportClosedError
from ._liveness import HEARTBEAT_METHOD, Watchdog
from ._messages import (
    Abandon,
    CancelRequest,
    Connect,
    EngineExitedEvent,
    EngineStartedEvent,
    GetStatus,
    PortStatus,
    ReplyError,
    ReplyResult,
    SendNotification,
    SendRequest,
)
from ._options import RuntimeOptions
from ._pending import PendingRequests
from ._process import EngineProcess
from ._reader import StdoutDispatcher
from ._reply import ReplyTo, reply_error
from ._router import Router
from ._supervisor import ChildContext, SupervisedActor

__all__ = ["EnginePort"]

#: How many of the latest requests' places in the engine's input are remembered (see ``_hand_back_unread``).
RECENT_WRITES = 4096
#: Requests that change nothing in the engine besides these: sent again after the engine died with them unanswered.
_IDEMPOTENT = frozenset({"thread/resume"})


def _safe_to_resend(method: str) -> bool:
    """Whether a request may be sent again to a new engine although the dead one read it: it only reads."""
    return method.endswith(("/list", "/read")) or method in _IDEMPOTENT


#: The JSON-RPC code of the error sent instead of an answer to a server request that cannot be encoded.
ENCODE_FAILED_CODE = -32603


class _StdoutClosed(msgspec.Struct, frozen=True):
    """Tell (from the reader thread to its own port): the engine's stdout ended on its own."""

    exit_code: int | None


class _Heartbeat(msgspec.Struct, frozen=True):
    """Tell (from the reader thread to its own port): the engine has been silent; write a heartbeat."""


_HEARTBEAT = _Heartbeat()


class EnginePort(SupervisedActor):
    """The actor that owns one engine process. Start it, then ask it :class:`Connect`.

    Supervised (with a ``context``), it crashes when its engine dies, so that its supervisor starts a fresh
    engine. Unsupervised, it stays up answering every request with the engine's exit error until stopped.
    ``process`` is an engine already started for it (see :meth:`EngineProcess.launch`), adopted on connect and
    stopped with the port if it never connects.
    """

    use_daemon_thread = True

    def __init__(
        self,
        config: CodexConfig,
        router: Router,
        options: RuntimeOptions | None = None,
        *,
        context: ChildContext | None = None,
        process: EngineProcess | None = None,
    ) -> None:
        super().__init__(context)
        self._spawned = process
        self._config = config
        self._router = router
        self._options = options or RuntimeOptions()
        self._ids = itertools.count(1)
        self._pending = PendingRequests(metrics_for(config.metrics_registry).request if config.metrics else None)
        self._process: EngineProcess | None = None
        self._reader = StdoutDispatcher(
            router,
            self._pending,
            refuse=self._refuse,
            pid=self._pid,
            max_line_bytes=self._options.max_line_bytes,
        )
        self._closing = threading.Event()
        self._gone_lock = threading.Lock()
        #: Where each recent request starts in what was written to the engine (offset, id, safe to resend),
        #: newest last; the requests a dying engine never read are among these (the pipe holds far fewer).
        self._recent: collections.deque[tuple[int, int, bool]] = collections.deque(maxlen=RECENT_WRITES)
        self._exit_code: int | None = None
        self._closed_error: TransportClosedError | None = None
        self._hung_after: float | None = None  # set (under the gone lock) when the watchdog gave the engine up

    # -- the actor thread -------------------------------------------------------------------------------------

    def on_receive(self, message: Any) -> Any:
        """Write what is told; answer :class:`Connect` and :class:`GetStatus`."""
        match message:
            case SendRequest():
                self._send_request(message.method, message.params, message.reply, message.trace)
            case SendNotification() | ReplyResult() | ReplyError():
                self._write_or_log(self._encode_told(message))
            case CancelRequest():
                self._pending.cancel(message.reply)
            case _Heartbeat():
                self._heartbeat()
            case _StdoutClosed():
                self._on_stdout_closed(message.exit_code)
            case Connect():
                self._connect(message.reply)
            case Abandon():
                self.crash(message.error)
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
        self._process = self._spawned or EngineProcess.launch(self._config, self._options)
        self._spawned = None
        self._pending.pid = self._process.pid
        generation = 0 if self.context is None else self.context.generation
        self._router.events(EngineStartedEvent(self._process.pid, generation))
        config = self._config
        params = {
            "clientInfo": {
                "name": config.client_name,
                "title": config.client_title,
                "version": config.client_version,
            },
            "capabilities": {"experimentalApi": config.experimental_api},
        }
        self._reader.handshake = reply
        self._send_request("initialize", params, reply)
        # Only now the reader threads: the engine takes tens of milliseconds to answer, and starting them
        # while it boots keeps them off the startup's critical path (its answer waits in the pipe meanwhile).
        self._process.start_reading(self._reader.feed, self._on_stdout_end, self._watchdog())

    def _watchdog(self) -> Watchdog | None:
        interval = self._options.heartbeat_interval
        if interval is None:
            return None
        timeout = self._options.heartbeat_timeout
        return Watchdog(interval, timeout, ready=self._may_ping, ping=self._ping, hung=self._engine_hung)

    def _heartbeat(self) -> None:
        """Write a heartbeat: a request with an id nobody waits for (its answer is dropped, never logged)."""
        if self._process is not None and ENGINE.isEnabledFor(logging.DEBUG):
            pid = self._process.pid
            ENGINE.debug(
                "engine %d silent for %g s: heartbeat sent",
                pid,
                self._options.heartbeat_interval,
                extra={"pid": pid},
            )
        self._write_or_log(encode_request(next(self._ids), HEARTBEAT_METHOD))

    def _status(self) -> PortStatus:
        process = self._process
        return PortStatus(
            pid=None if process is None else process.pid,
            running=process is not None and process.poll() is None and self._closed_error is None,
            pending_requests=len(self._pending),
            exit_code=self._exit_code,
        )

    def _send_request(self, method: str, params: Any, reply: ReplyTo, trace: dict[str, str] | None = None) -> None:
        if self._closed_error is not None or self._process is None:
            reply_error(reply, not_sent(self._transport_error()))
            return
        request_id = next(self._ids)
        try:
            line = encode_request(request_id, method, params, trace)
        except InvalidInputError as exc:  # nothing is sent: the caller gets the error naming the field
            reply_error(reply, exc)
            return
        safe = _safe_to_resend(method)
        if not safe and self._process.dying():  # killed, not gone yet: it would take this and never act on it
            self._engine_gone()  # as for a write that found it gone: its exit code and stderr tail
            reply_error(reply, not_sent(self._transport_error()))
            return
        traced = method if self._pending.tracing else None  # the request log (DEBUG) and metrics record it
        if not self._pending.add(request_id, reply, traced, params):
            reply_error(reply, not_sent(self._transport_error()))
            return
        self._recent.append((self._process.written, request_id, safe))
        try:
            self._process.write(line)
        except (OSError, ValueError):
            unsent = self._pending.pop(request_id)  # the engine is gone: it never read this one
            self._engine_gone()
            if unsent is not None:
                reply_error(unsent, not_sent(self._transport_error()))

    @staticmethod
    def _encode_told(message: SendNotification | ReplyResult | ReplyError) -> bytes | None:
        """The line of a told write; an answer that cannot be encoded becomes an error answer (logged)."""
        try:
            if isinstance(message, SendNotification):
                return encode_notification(message.method, message.params)
            if isinstance(message, ReplyResult):
                return encode_result(message.id, message.result)
            return encode_error(message.id, message.code, message.message, message.data)
        except InvalidInputError as exc:
            if isinstance(message, SendNotification):
                ENGINE.error("notification %s not sent: %s", message.method, exc, extra={"method": message.method})
                return None
            ENGINE.error("the answer to server request %r cannot be sent: %s", message.id, exc)
            reason = f"codex-actors could not encode the answer: {exc}"
            return encode_error(message.id, ENCODE_FAILED_CODE, reason.encode("utf-8", "replace").decode())

    def _write_or_log(self, line: bytes | None) -> None:
        # A notification or an answer to a server request has nobody waiting on it: if the engine is gone,
        # the loss is already reported by the exit event.
        if line is None or self._closed_error is not None or self._process is None:
            return
        try:
            self._process.write(line)
        except (OSError, ValueError):
            self._engine_gone()

    def _transport_error(self) -> TransportClosedError:
        error = self._closed_error
        if error is not None:  # a fresh copy, of the same class (EngineHungError stays one)
            return type(error)(str(error), exit_code=error.exit_code, stderr_tail=error.stderr_tail)
        return not_running()

    def _on_stdout_closed(self, exit_code: int | None) -> None:
        self._exit_code = exit_code
        if self._process is not None:
            self._process.stop(grace=0.0, term_grace=self._options.term_grace)
        if self.context is not None:
            self.crash(self._transport_error())

    def _shutdown(self) -> None:
        self._closing.set()
        if self._spawned is not None:  # never connected: the engine started for it goes too
            self._spawned.stop(grace=0.0, term_grace=self._options.term_grace)
            self._spawned = None
        with self._gone_lock:
            if self._closed_error is None:
                self._closed_error = not_running()
        process = self._process
        if process is not None:
            # An engine that never answered initialize has nothing to finish: it gets no grace.
            grace = 0.0 if self._reader.handshake is not None else self._options.close_grace
            self._exit_code = process.stop(grace=grace, term_grace=self._options.term_grace)
        for reply in self._pending.close(self._closed_error):
            reply_error(reply, self._transport_error())
        self._fail_queued_requests()

    def _fail_queued_requests(self) -> None:
        """Answer the requests still in the mailbox: pykka would drop them (it only fails queued asks)."""
        kept = []
        while not self.actor_inbox.empty():
            envelope = self.actor_inbox.get()  # only this thread takes from the inbox: never blocks
            if isinstance(envelope.message, SendRequest):
                reply_error(envelope.message.reply, not_sent(self._transport_error()))
            else:
                kept.append(envelope)
        for envelope in kept:
            self.actor_inbox.put(envelope)

    # -- called on the reader thread --------------------------------------------------------------------------

    def _refuse(self, refusal: ReplyError) -> None:
        with contextlib.suppress(pykka.ActorDeadError):
            self.actor_ref.tell(refusal)

    def _may_ping(self) -> bool:
        return self._reader.handshake is None and not self._closing.is_set() and self._closed_error is None

    def _ping(self) -> None:
        with contextlib.suppress(pykka.ActorDeadError):
            self.actor_ref.tell(_HEARTBEAT)

    def _engine_hung(self, waited: float) -> None:
        """No answer to the heartbeat: kill the engine (never blocks); then it is gone (:meth:`_engine_gone`)."""
        process = self._process
        if self._closing.is_set() or process is None:
            return
        with self._gone_lock:
            if self._closed_error is not None:
                return  # it died on its own first
            self._hung_after = waited
        ENGINE.warning(
            "engine %d did not answer within %g s (silent for %g s): killing it",
            process.pid,
            waited,
            waited + (self._options.heartbeat_interval or 0.0),
            extra={"pid": process.pid, "waited_s": waited},
        )
        process.kill()
        self._engine_gone()

    def _on_stdout_end(self) -> None:
        self._reader.finish()
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
            if self._hung_after is not None:
                self._closed_error = EngineHungError(
                    f"Codex process did not answer within {self._hung_after:g} s; it was killed. "
                    f"stderr_tail={tail}",
                    exit_code=exit_code,
                    stderr_tail=tail,
                )
            else:
                self._closed_error = TransportClosedError(
                    f"Codex process closed stdout. stderr_tail={tail}", exit_code=exit_code, stderr_tail=tail
                )
        if exit_code is not None:  # dead: what is still in its stdin pipe it never read
            self._hand_back_unread(process.consumed_input())
        for reply in self._pending.close(self._closed_error):
            reply_error(reply, self._transport_error())
        self._router.events(EngineExitedEvent(process.pid, exit_code, process.stderr_tail.text()))
        with contextlib.suppress(pykka.ActorDeadError):
            self.actor_ref.tell(_StdoutClosed(exit_code))

    def _hand_back_unread(self, consumed: int) -> None:
        """Fail as never sent what the dead engine never read (written past ``consumed``) or only reads state.

        Sending a request that only reads again changes nothing; the others it read fail as in flight.
        """
        for offset, request_id, safe in list(self._recent):
            if offset >= consumed or safe:
                reply = self._pending.pop(request_id)
                if reply is not None:
                    reply_error(reply, not_sent(self._transport_error()))

    def _pid(self) -> int:
        return -1 if self._process is None else self._process.pid
