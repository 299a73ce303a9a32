"""The reader thread's dispatch, bytes in and deliveries out: no process, no actor."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import msgspec
import pykka
import pytest

from codex_actors._protocol.jsonrpc import ServerNotification, ServerRequest
from codex_actors.actors._messages import (
    NO_HANDLER_CODE,
    LineDroppedEvent,
    LineTooLongNote,
    PortEvent,
    ProtocolErrorEvent,
    ReplyError,
)
from codex_actors.actors._pending import PendingRequests
from codex_actors.actors._reader import StdoutDispatcher
from codex_actors.actors._reply import CallbackReply
from codex_actors.actors._router import Router
from codex_actors.errors import InvalidRequestError, LineTooLongError, ProtocolError
from codex_actors.models import UnknownNotification


def line(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode() + b"\n"


def note(thread: str | None, delta: str = "x", turn: str = "u1") -> bytes:
    params: dict[str, Any] = {"delta": delta, "itemId": "i", "turnId": turn}
    if thread is not None:
        params["threadId"] = thread
    return line({"method": "item/agentMessage/delta", "params": params})


def delta_of(notification: ServerNotification) -> Any:
    if isinstance(notification, LineTooLongNote):
        return "<dropped>"
    payload = notification.payload
    if isinstance(payload, UnknownNotification):  # no threadId: the schema refuses it, so it stays raw
        return payload.params["delta"]
    return payload.delta


class Rig:
    """A dispatcher over a router whose every sink records what it got, in one shared order."""

    def __init__(self, *, handler: bool = True, max_line_bytes: int = 1 << 20) -> None:
        self.order: list[tuple[str, Any]] = []
        self.refused: list[ReplyError] = []
        self.events: list[PortEvent] = []
        self.router = Router(
            default=self.sink("default"),
            requests=(lambda request: self.order.append(("request", request))) if handler else None,
            events=self.events.append,
        )
        self.pending = PendingRequests()
        self.reader = StdoutDispatcher(
            self.router, self.pending, refuse=self.refused.append, pid=lambda: 42, max_line_bytes=max_line_bytes
        )

    def sink(self, name: str) -> Any:
        def deliver(batch: Sequence[ServerNotification]) -> None:
            self.order.append((name, [delta_of(n) for n in batch]))

        return deliver

    def bind(self, *threads: str) -> None:
        for thread in threads:
            self.router.bind_thread(thread, self.sink(thread))

    def wait_reply(self, request_id: int) -> pykka.Future[Any]:
        future: pykka.Future[Any] = pykka.ThreadingFuture()
        self.pending.add(request_id, future)
        return future


def test_one_read_of_one_threads_notifications_is_one_batch_to_its_sink() -> None:
    rig = Rig()
    rig.bind("A")
    rig.reader.feed(note("A", "1") + note("A", "2") + note("A", "3"))
    assert rig.order == [("A", ["1", "2", "3"])]


def test_a_read_of_several_threads_is_one_batch_per_sink_and_the_unbound_go_to_the_default() -> None:
    rig = Rig()
    rig.bind("A", "B")
    rig.reader.feed(note("A", "a1") + note("B", "b1") + note("C", "c1") + note("A", "a2") + note(None, "n"))
    assert sorted(rig.order) == [("A", ["a1", "a2"]), ("B", ["b1"]), ("default", ["c1", "n"])]


def test_a_line_split_across_reads_is_delivered_once_whole() -> None:
    rig = Rig()
    rig.bind("A")
    data = note("A", "split")
    rig.reader.feed(data[:10])
    assert rig.order == []
    rig.reader.feed(data[10:])
    assert rig.order == [("A", ["split"])]


def test_an_unterminated_last_line_is_delivered_when_stdout_ends() -> None:
    rig = Rig()
    rig.bind("A")
    rig.reader.feed(note("A", "last").rstrip(b"\n"))
    assert rig.order == []
    rig.reader.finish()
    assert rig.order == [("A", ["last"])]


def test_a_reply_completes_its_request_and_what_was_read_before_it_is_delivered_first() -> None:
    rig = Rig()
    rig.bind("A")
    failed = rig.wait_reply(2)
    rig.pending.add(1, CallbackReply(lambda value, _error: rig.order.append(("reply", bytes(value)))))
    rig.reader.feed(
        note("A", "before")
        + line({"id": 1, "result": {"ok": True}})
        + note("A", "after")
        + line({"id": 2, "error": {"code": -32600, "message": "bad"}})
    )
    assert rig.order == [("A", ["before"]), ("reply", b'{"ok": true}'), ("A", ["after"])]
    with pytest.raises(InvalidRequestError, match="bad"):
        failed.get(timeout=1)
    assert len(rig.pending) == 0


def test_a_reply_nobody_waits_for_is_dropped() -> None:
    rig = Rig()
    rig.reader.feed(line({"id": 99, "result": {}}) + line({"id": "not-ours", "result": {}}))
    assert rig.order == [] and rig.events == []


def test_a_server_request_goes_to_the_handler_in_order_or_is_refused_without_one() -> None:
    rig = Rig()
    request = {"id": 7, "method": "item/tool/call", "params": {"threadId": "A"}}
    rig.reader.feed(note("A", "first") + line(request))
    assert [kind for kind, _ in rig.order] == ["default", "request"]
    handled = rig.order[1][1]
    assert isinstance(handled, ServerRequest) and handled.id == 7 and handled.method == "item/tool/call"

    bare = Rig(handler=False)
    bare.reader.feed(line(request))
    assert bare.refused == [
        ReplyError(7, NO_HANDLER_CODE, "codex-actors has no handler for server request 'item/tool/call'")
    ]


def test_a_line_that_is_not_json_rpc_is_reported_and_fails_the_handshake_in_flight() -> None:
    rig = Rig()
    handshake = rig.wait_reply(1)
    rig.reader.handshake = handshake
    rig.reader.feed(b"this is not an app-server\n" + note(None, "still read"))
    (event,) = rig.events
    assert isinstance(event, ProtocolErrorEvent) and event.pid == 42 and event.line_head.startswith(b"this is")
    with pytest.raises(ProtocolError, match="Invalid JSON-RPC line"):
        handshake.get(timeout=1)
    assert rig.reader.handshake is None and len(rig.pending) == 0
    assert rig.order == [("default", ["still read"])]


def test_the_handshake_is_cleared_by_its_answer() -> None:
    rig = Rig()
    rig.reader.handshake = rig.wait_reply(1)
    rig.reader.feed(line({"id": 1, "result": {"userAgent": "x"}}))
    assert rig.reader.handshake is None
    rig.reader.feed(b"garbage after the handshake\n")
    assert isinstance(rig.events[0], ProtocolErrorEvent)


def test_a_line_over_the_limit_is_dropped_reported_and_reading_goes_on() -> None:
    rig = Rig(max_line_bytes=200)
    rig.bind("A")
    rig.reader.feed(note("A", "y" * 500) + note("A", "ok"))
    assert rig.order == [("A", ["<dropped>"]), ("A", ["ok"])]
    (event,) = rig.events
    assert isinstance(event, LineDroppedEvent) and event.limit == 200 and event.size > 500


def test_decoded_notifications_are_the_public_objects() -> None:
    rig = Rig()
    got: list[ServerNotification] = []
    rig.router.bind_thread("A", got.extend)
    rig.reader.feed(note("A", "hi"))
    (first,) = got
    assert first.method == "item/agentMessage/delta" and first.thread_id == "A" and first.turn_id == "u1"
    assert msgspec.json.decode(first.params)["delta"] == "hi"


def test_a_dropped_reply_fails_its_request_at_once_naming_size_and_limit() -> None:
    rig = Rig(max_line_bytes=200)
    future = rig.wait_reply(5)
    rig.reader.feed(line({"result": {"text": "y" * 500}, "id": 5}))  # the id after the huge field
    with pytest.raises(LineTooLongError) as info:
        future.get(timeout=0)
    assert info.value.limit == 200 and info.value.size > 500
    assert f"{info.value.size:,} bytes" in str(info.value) and "200 bytes" in str(info.value)
    (event,) = rig.events
    assert isinstance(event, LineDroppedEvent) and event.request_id == 5 and event.method is None
    assert len(rig.pending) == 0


def test_a_dropped_event_of_a_thread_reaches_its_sink_in_order() -> None:
    rig = Rig(max_line_bytes=300)
    got: list[list[ServerNotification]] = []
    rig.router.bind_thread("A", lambda batch: got.append(list(batch)))
    item = {"type": "agentMessage", "id": "m", "text": "y" * 500}
    huge = line({"params": {"item": item, "turnId": "u1", "threadId": "A"}, "method": "item/completed"})
    rig.reader.feed(note("A", "before") + huge + note("A", "after"))
    assert [[type(n).__name__ for n in batch] for batch in got] == [
        ["ItemAgentMessageDeltaEvent"],
        ["LineTooLongNote"],
        ["ItemAgentMessageDeltaEvent"],
    ]
    marker = got[1][0]
    assert isinstance(marker, LineTooLongNote)
    assert marker.thread_id == "A" and marker.turn_id == "u1" and marker.method == "item/completed"
    assert isinstance(marker.error, LineTooLongError) and "item/completed" in str(marker.error)
    (event,) = rig.events
    assert isinstance(event, LineDroppedEvent) and (event.thread_id, event.turn_id) == ("A", "u1")


def test_a_dropped_server_request_is_refused_so_the_engine_does_not_wait() -> None:
    rig = Rig(max_line_bytes=200)
    rig.reader.feed(
        line({"id": 9, "method": "item/tool/call", "params": {"threadId": "A", "arguments": "y" * 500}})
    )
    (refusal,) = rig.refused
    assert refusal.id == 9 and "max_line_bytes" in refusal.message
    assert rig.order == []


def test_a_dropped_line_nobody_owns_is_logged_at_error_and_reported(caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig(max_line_bytes=200)
    rig.reader.feed(line({"method": "configWarning", "params": {"summary": "y" * 500}}) + b"z" * 300 + b"\n")
    errors = [r for r in caplog.records if r.levelname == "ERROR" and r.name == "codex_actors.engine"]
    assert len(errors) == 2 and "configWarning" in errors[0].getMessage()
    assert [(e.method, e.size) for e in rig.events if isinstance(e, LineDroppedEvent)] == [
        ("configWarning", len(line({"method": "configWarning", "params": {"summary": "y" * 500}})) - 1),
        (None, 300),
    ]
    assert rig.order == []
