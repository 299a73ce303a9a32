"""What the port's reader thread does with the engine's stdout: split, decode, route. Nothing here is an actor.

A :class:`StdoutDispatcher` gets every chunk the reader reads. Complete lines are decoded (a read of nothing but
notifications in one msgspec call) and handed on without going through any mailbox: notifications in
per-thread batches to the :class:`~codex_actors.actors._router.Router`'s sinks, replies to the
:class:`~codex_actors.actors._pending.PendingRequests` they answer, server requests to the router's request sink
(or refused, when nobody handles them), and what goes wrong (a dropped line, a line that is not JSON-RPC) to
the router's event sink. Order is kept across kinds: what was read before a reply or a server request is
delivered first.

A line over the limit is dropped, never silently: what it belonged to fails at once with
:class:`~codex_actors.errors.LineTooLongError`, found from the line's first and last bytes
(:mod:`codex_actors._protocol.dropped`). A reply fails its request; a server request is refused (the engine
fails that item rather than wait); an event of a bound thread goes to the thread's sink as a
:class:`~codex_actors.actors._messages.LineTooLongNote`, in its place among the thread's other events, and the
thread's actor fails the turn. Anything else (an event of no thread or of a thread nobody has bound, a line
whose ends tell nothing) is logged at ERROR on ``codex_actors.engine``; in-flight work is left to its own
bounds then (a request's timeout, ``turn_timeout_s``). Every dropped line is also a
:class:`~codex_actors.actors._messages.LineDroppedEvent` with what its ends told.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence

from .._logs import ENGINE
from .._protocol.dropped import DroppedFields, dropped_fields
from .._protocol.framing import DroppedLine, LineSplitter, SplitResult, split_lines
from .._protocol.jsonrpc import (
    ErrorResponse,
    Response,
    ServerNotification,
    ServerRequest,
    decode_block,
    decode_lines,
)
from ..errors import LineTooLongError, ProtocolError, map_jsonrpc_error
from ..models import JsonObject, UnknownNotification
from ._messages import LineDroppedEvent, LineTooLongNote, NotificationSink, ProtocolErrorEvent, ReplyError
from ._pending import PendingRequests
from ._reply import ReplyTo, reply_error, reply_value
from ._router import Router

__all__ = ["StdoutDispatcher"]

_PAYLOAD_THREAD_ID = operator.attrgetter("payload.thread_id")

_Batches = dict[int, tuple[NotificationSink, list[ServerNotification]]]

#: The JSON-RPC code a server request is refused with when its line was dropped.
DROPPED_REQUEST_CODE = -32603


def _what(fields: DroppedFields) -> str:
    """What a dropped line was, in words, from what its ends told."""
    if fields.id is not None and fields.method is None:
        return f"the reply to request {fields.id!r}"
    parts = [repr(fields.method) if fields.method is not None else "a line"]
    if fields.id is not None:
        parts.append(f"(server request {fields.id!r})")
    if fields.thread_id is not None:
        parts.append(f"of thread {fields.thread_id}")
    if fields.turn_id is not None:
        parts.append(f"turn {fields.turn_id}")
    return " ".join(parts)


class StdoutDispatcher:
    """Turns the engine's stdout into deliveries. Runs on one thread (the port's reader), start to end.

    ``refuse`` sends the answer to a server request nobody handles (the port writes it); ``pid`` names the
    process in events. :attr:`handshake` is the reply of the ``initialize`` in flight, failed at once if the
    engine's first words are not JSON-RPC (it is not an app-server at all, as the official SDK reports).
    """

    def __init__(
        self,
        router: Router,
        pending: PendingRequests,
        *,
        refuse: Callable[[ReplyError], None],
        pid: Callable[[], int],
        max_line_bytes: int,
    ) -> None:
        self._router = router
        self._pending = pending
        self._refuse = refuse
        self._pid = pid
        self._splitter = LineSplitter(max_line_bytes)
        self._max_line_bytes = max_line_bytes
        self.handshake: ReplyTo | None = None

    def feed(self, chunk: bytes) -> None:
        """Deliver everything complete in ``chunk`` (an incomplete last line waits for the next one)."""
        split = self._splitter.feed(chunk)
        if split.dropped:
            self._with_dropped(split)
        elif split.block:
            self._dispatch_block(split.block)

    def finish(self) -> None:
        """Stdout ended: deliver an unterminated last line, if any."""
        split = self._splitter.finish()
        self._dispatch(split.lines)
        for dropped in split.dropped:
            self._on_dropped(dropped)

    def _with_dropped(self, split: SplitResult) -> None:
        """A read with dropped lines: each handled in its place among the lines kept around it."""
        block, start = split.block, 0
        for dropped in split.dropped:
            if dropped.offset > start:
                self._dispatch_block(block[start : dropped.offset - 1])  # without the newline before it
            start = max(start, dropped.offset)
            self._on_dropped(dropped)
        if start < len(block):
            self._dispatch_block(block[start:])

    def _on_dropped(self, dropped: DroppedLine) -> None:
        fields = dropped_fields(dropped.head, dropped.tail)
        limit = self._max_line_bytes
        self._router.events(
            LineDroppedEvent(
                self._pid(), dropped.size, limit, fields.id, fields.method, fields.thread_id, fields.turn_id
            )
        )
        what = _what(fields)
        error = LineTooLongError(
            f"{what}: a line of {dropped.size:,} bytes from the engine, over the limit of {limit:,} bytes "
            "(CodexConfig.max_line_bytes), was dropped",
            size=dropped.size,
            limit=limit,
        )
        if fields.id is not None and fields.method is None:
            if self._fail_request(fields.id, error):
                return
        elif fields.id is not None:  # a server request: refused, so the engine fails that item, never waits
            ENGINE.warning("%s; refused", error, extra={"pid": self._pid(), "method": fields.method})
            self._refuse(ReplyError(fields.id, DROPPED_REQUEST_CODE, str(error)))
            return
        elif fields.thread_id is not None:
            sink = self._router.sink_for(fields.thread_id)
            if sink is not self._router.default:
                params: JsonObject = {"threadId": fields.thread_id, "turnId": fields.turn_id}
                sink([LineTooLongNote(fields.method or "", UnknownNotification(params), None, error=error)])
                return
        ENGINE.error(
            "%s; nothing waiting for it could be told",
            error,
            extra={"pid": self._pid(), "method": fields.method, "thread_id": fields.thread_id},
        )

    def _fail_request(self, request_id: int | str, error: LineTooLongError) -> bool:
        """Fail the request ``request_id`` with ``error``; False if nobody waits for it."""
        reply = self._pending.pop(request_id)
        if reply is None:
            return False
        if reply is self.handshake:
            self.handshake = None
        if self._pending.traced:
            self._pending.answered(request_id, error)
        reply_error(reply, error)
        return True

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
            self._router.deliver(self._router.sink_for(threads.pop()), batch)
            return
        batches: _Batches = {}
        for note in batch:
            self._add(batches, note)
        self._flush(batches)

    def _dispatch(self, lines: Sequence[bytes]) -> None:
        batches: _Batches = {}
        for line, message in zip(lines, decode_lines(lines), strict=True):
            if isinstance(message, ServerNotification):
                self._add(batches, message)
                continue
            if type(message) is ProtocolError:
                self._on_bad_line(line, message)
                continue
            self._flush(batches)  # what was read before a reply or a server request goes first
            if isinstance(message, ServerRequest):
                self._on_server_request(message)
            elif isinstance(message, Response | ErrorResponse):
                self._on_reply(message)
        self._flush(batches)

    def _add(self, batches: _Batches, note: ServerNotification) -> None:
        sink = self._router.sink_for(note.thread_id)
        entry = batches.get(id(sink))
        if entry is None:
            batches[id(sink)] = (sink, [note])
        else:
            entry[1].append(note)

    def _flush(self, batches: _Batches) -> None:
        for sink, batch in batches.values():
            self._router.deliver(sink, batch)
        batches.clear()

    def _on_bad_line(self, line: bytes, error: ProtocolError) -> None:
        self._router.events(ProtocolErrorEvent(self._pid(), str(error), line[:200]))
        handshake = self.handshake
        if handshake is not None:
            self.handshake = None
            failure = ProtocolError(f"Invalid JSON-RPC line: {line[:200]!r}")
            self._pending.cancel(handshake, failure)
            reply_error(handshake, failure)

    def _on_reply(self, message: Response | ErrorResponse) -> None:
        reply = self._pending.pop(message.id)
        if reply is None:
            return  # a reply to a request its asker gave up on
        if reply is self.handshake:  # the engine answered ``initialize``
            self.handshake = None
        pending = self._pending
        if isinstance(message, Response):
            if pending.traced:  # codex_actors.requests at DEBUG: one line per answer
                pending.answered(message.id)
            reply_value(reply, message.result)
        else:
            wire = message.error
            error = map_jsonrpc_error(wire.code, wire.message, wire.data)
            if pending.traced:
                pending.answered(message.id, error)
            reply_error(reply, error)

    def _on_server_request(self, request: ServerRequest) -> None:
        handler = self._router.requests
        if handler is None:
            self._refuse(ReplyError.refusal(request))
        else:
            handler(request)
