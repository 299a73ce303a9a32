"""The engine port under faults the real engine cannot be made to show, using tests/support/fakes."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Sequence
from typing import Any

import msgspec
import pykka
import pytest

from codex_actors._config import CodexConfig
from codex_actors._protocol.jsonrpc import ServerNotification, ServerRequest
from codex_actors.actors._connection import EngineConnection
from codex_actors.actors._messages import EngineExitedEvent, LineDroppedEvent, PortEvent, ProtocolErrorEvent
from codex_actors.actors._options import RuntimeOptions
from codex_actors.actors._process import EngineProcess
from codex_actors.actors._router import NotificationBuffer, Router
from codex_actors.errors import (
    CodexError,
    InvalidInputError,
    InvalidRequestError,
    ProtocolError,
    RequestTimeoutError,
    TransportClosedError,
)
from tests.support.fixtures import fake_engine_config


class Events:
    def __init__(self) -> None:
        self.items: list[PortEvent] = []
        self.cond = threading.Condition()

    def __call__(self, event: PortEvent) -> None:
        with self.cond:
            self.items.append(event)
            self.cond.notify_all()

    def wait(self, kind: type[Any], timeout: float = 5.0) -> Any:
        with self.cond:
            assert self.cond.wait_for(lambda: any(isinstance(e, kind) for e in self.items), timeout)
            return next(e for e in self.items if isinstance(e, kind))


def open_fake(events: Events | None = None, options: RuntimeOptions | None = None, **env: str) -> EngineConnection:
    router = Router(events=events)
    return EngineConnection.open(fake_engine_config(**env), router=router, options=options)


def echo(conn: EngineConnection, value: int) -> Any:
    return msgspec.json.decode(conn.request("test/echo", {"n": value}, timeout=5))


def test_handshake_answers_and_initialized_is_sent() -> None:
    with open_fake() as conn:
        assert conn.initialize_result["userAgent"] == "fake_engine/0.163.0 (test)"
        assert echo(conn, 1) == {"n": 1}
        buffer = conn.router.default
        assert isinstance(buffer, NotificationBuffer)
        assert buffer.get(5).method == "configWarning"


def test_malformed_lines_do_not_kill_the_port() -> None:
    events = Events()
    with open_fake(events) as conn:
        assert msgspec.json.decode(conn.request("test/malformed", timeout=5)) == {"ok": True}
        assert echo(conn, 2) == {"n": 2}
        errors = [e for e in events.items if isinstance(e, ProtocolErrorEvent)]
        assert len(errors) == 2
        assert errors[0].line_head.startswith(b"{this is not json")


def test_a_20mb_line_is_dropped_and_reading_resyncs() -> None:
    events = Events()
    with open_fake(events, RuntimeOptions(max_line_bytes=16 * 1024 * 1024)) as conn:
        assert msgspec.json.decode(conn.request("test/huge", timeout=30)) == {"ok": True}
        dropped = events.wait(LineDroppedEvent)
        assert dropped.size > 20 * 1024 * 1024
        assert dropped.limit == 16 * 1024 * 1024
        assert echo(conn, 3) == {"n": 3}


def test_a_line_under_the_limit_is_delivered_whole() -> None:
    with open_fake(options=RuntimeOptions(max_line_bytes=32 * 1024 * 1024)) as conn:
        conn.request("test/huge", {"size": 20 * 1024 * 1024}, timeout=30)
        buffer = conn.router.default
        assert isinstance(buffer, NotificationBuffer)
        huge = buffer.wait_for("huge", 5)
        assert len(huge.params) > 20 * 1024 * 1024


def test_a_reply_written_byte_by_byte_is_reassembled() -> None:
    with open_fake() as conn:
        assert msgspec.json.decode(conn.request("test/split", timeout=5)) == {"split": True}


def test_eof_mid_request_fails_it_fast_with_exit_code_and_stderr() -> None:
    events = Events()
    with open_fake(events) as conn:
        hanging: pykka.Future[Any] = pykka.ThreadingFuture()
        conn.send("test/hang", None, hanging)
        started = time.monotonic()
        with pytest.raises(TransportClosedError) as info:
            conn.request("test/die", {"code": 3, "stderr": "boom: the fake engine died"}, timeout=60)
        assert time.monotonic() - started < 30  # at once, not after the timeout
        assert info.value.exit_code == 3
        assert "boom: the fake engine died" in (info.value.stderr_tail or "")
        assert str(info.value).startswith("Codex process closed stdout. stderr_tail=")
        with pytest.raises(TransportClosedError):
            hanging.get(timeout=1)
        exited = events.wait(EngineExitedEvent)
        assert exited.exit_code == 3
        # Later calls fail at once with the same typed error, never a BrokenPipeError.
        with pytest.raises(TransportClosedError) as later:
            conn.request("test/echo", {}, timeout=5)
        assert later.value.exit_code == 3
        conn.notify("initialized")  # a notification to a dead engine is dropped quietly
        status = conn.status()
        assert not status.running
        assert status.exit_code == 3


def test_a_request_without_a_reply_times_out_and_is_forgotten() -> None:
    with open_fake() as conn:
        with pytest.raises(RequestTimeoutError) as info:
            conn.request("test/hang", timeout=0.2)
        assert info.value.method == "test/hang"
        assert isinstance(info.value, TimeoutError)
        assert "test/hang got no reply within 0.2 s" in str(info.value)
        deadline = time.monotonic() + 2
        while conn.status().pending_requests and time.monotonic() < deadline:
            time.sleep(0.01)
        assert conn.status().pending_requests == 0
        assert echo(conn, 4) == {"n": 4}


def test_errors_are_mapped_to_typed_exceptions() -> None:
    with open_fake() as conn, pytest.raises(InvalidRequestError) as info:
        conn.request("bogus/method", {})
    assert info.value.code == -32600


def test_unencodable_params_fail_that_request_only() -> None:
    with open_fake() as conn:
        with pytest.raises(InvalidInputError) as info:
            conn.request("test/echo", {"x": object()}, timeout=5)
        assert info.value.field == "x"
        assert echo(conn, 5) == {"n": 5}


def test_a_server_request_nobody_handles_is_refused_not_left_hanging() -> None:
    with open_fake() as conn:
        answer = msgspec.json.decode(conn.request("test/server-request", {"method": "item/tool/call"}, timeout=5))
        assert answer["answer"]["id"] == 0
        assert answer["answer"]["error"]["code"] == -32601
        assert "item/tool/call" in answer["answer"]["error"]["message"]


def test_a_server_request_goes_to_the_request_sink() -> None:
    router = Router()
    conn = EngineConnection.open(fake_engine_config(), router=router)

    def handle(request: ServerRequest) -> None:
        conn.reply(request.id, {"decision": "accept", "method": request.method})

    router.requests = handle
    with conn:
        answer = msgspec.json.decode(
            conn.request("test/server-request", {"method": "item/commandExecution/requestApproval"}, timeout=5)
        )
        assert answer["answer"] == {
            "id": 0,
            "result": {"decision": "accept", "method": "item/commandExecution/requestApproval"},
        }


def test_notifications_are_batched_by_thread() -> None:
    batches: list[list[str]] = []
    router = Router()
    with EngineConnection.open(fake_engine_config(), router=router) as conn:
        router.bind_thread("thr_a", lambda batch: batches.append([n.method for n in batch]))
        conn.request("test/flood", {"count": 49, "threadId": "thr_a"}, timeout=5)  # written in one go
        conn.request("test/notify", {"count": 2, "method": "c/d", "params": {"threadId": "other"}}, timeout=5)
        router.unbind_thread("thr_a")
        conn.request("test/notify", {"count": 1, "method": "e/f", "params": {"threadId": "thr_a"}}, timeout=5)
    deadline = time.monotonic() + 5
    while sum(len(b) for b in batches) < 50 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sum(len(b) for b in batches) == 50  # 49 deltas and the turn/completed
    assert len(batches) < 50  # delivered in batches, not one call per line
    buffer = router.default
    assert isinstance(buffer, NotificationBuffer)
    assert [n.method for n in buffer.drain()] == ["configWarning", "c/d", "c/d", "e/f"]


def test_one_read_of_several_threads_events_reaches_each_thread_in_order() -> None:
    seen: dict[str, list[str]] = {"thr_a": [], "thr_b": []}
    router = Router()
    with EngineConnection.open(fake_engine_config(), router=router) as conn:
        for thread_id, deltas in seen.items():

            def record(batch: Sequence[ServerNotification], deltas: list[str] = deltas) -> None:
                deltas.extend(n.payload.delta for n in batch)

            router.bind_thread(thread_id, record)
        # One write: 300 typed deltas cycling over three threads (one unbound), then the reply after them.
        conn.request("test/interleave", {"count": 300, "threads": ["thr_a", "thr_b", "thr_c"]}, timeout=5)
    assert seen["thr_a"] == [str(i) for i in range(0, 300, 3)]  # all delivered before the reply was
    assert seen["thr_b"] == [str(i) for i in range(1, 300, 3)]
    buffer = router.default
    assert isinstance(buffer, NotificationBuffer)
    assert [n.payload.delta for n in buffer.drain() if n.thread_id == "thr_c"] == [
        str(i) for i in range(2, 300, 3)
    ]


def test_the_notification_buffer_is_bounded() -> None:
    buffer = NotificationBuffer(maxlen=10)
    router = Router(default=buffer)
    with EngineConnection.open(fake_engine_config(), router=router) as conn:
        conn.request("test/notify", {"count": 100, "method": "x/y"}, timeout=5)
    assert len(buffer) == 10
    assert buffer.dropped == 91  # 100 + configWarning - 10
    with pytest.raises(TimeoutError):
        NotificationBuffer().get(0.01)
    with pytest.raises(TimeoutError):
        buffer.wait_for("never/sent", 0.05)


def test_init_failures_are_typed_and_leave_nothing(no_leaks: None) -> None:
    with pytest.raises(TransportClosedError) as info:
        EngineConnection.open(CodexConfig(launch_args_override=("false",)))
    assert info.value.exit_code == 1
    with pytest.raises(TransportClosedError) as died:
        EngineConnection.open(fake_engine_config(FAKE_ENGINE_INIT="die"))
    assert "refusing to start" in (died.value.stderr_tail or "")
    with pytest.raises(FileNotFoundError):
        EngineConnection.open(CodexConfig(launch_args_override=("/nonexistent/codex",)))
    with pytest.raises(FileNotFoundError, match="Codex binary not found at /nonexistent/codex"):
        EngineConnection.open(CodexConfig(codex_bin="/nonexistent/codex"))


def test_garbage_instead_of_a_handshake_fails_the_connect_at_once(no_leaks: None) -> None:
    events = Events()
    router = Router(events=events)
    started = time.monotonic()
    with pytest.raises(ProtocolError, match="Invalid JSON-RPC line: b'this is not json'"):
        EngineConnection.open(fake_engine_config(FAKE_ENGINE_INIT="garbage"), router=router)
    assert time.monotonic() - started < 30  # not the 60 s connect timeout
    assert isinstance(events.wait(ProtocolErrorEvent), ProtocolErrorEvent)


def test_close_escalates_to_sigkill_for_an_engine_that_ignores_eof_and_sigterm(no_leaks: None) -> None:
    conn = open_fake(
        options=RuntimeOptions(close_grace=0.2, term_grace=0.2),
        FAKE_ENGINE_IGNORE_EOF="1",
        FAKE_ENGINE_IGNORE_TERM="1",
    )
    pid = conn.status().pid
    assert pid is not None
    conn.close()
    assert conn.status().exit_code is None  # the actor is gone; status says so without raising
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_calls_after_close_raise_transport_closed(no_leaks: None) -> None:
    conn = open_fake()
    conn.close()
    conn.close()
    with pytest.raises(TransportClosedError, match="Codex process is not running"):
        conn.request("test/echo", {})
    with pytest.raises(TransportClosedError):
        conn.notify("initialized")
    with pytest.raises(TransportClosedError):
        conn.reply(0, {})
    with pytest.raises(TransportClosedError):
        conn.reply_error(0, -1, "x")


def test_a_killed_engine_is_reported_and_reaped(no_leaks: None) -> None:
    events = Events()
    conn = open_fake(events)
    pid = conn.status().pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert events.wait(EngineExitedEvent).exit_code == -9
    with pytest.raises(TransportClosedError) as info:
        conn.request("test/echo", {}, timeout=5)
    assert info.value.exit_code == -9
    conn.close()


def test_protocol_error_is_a_codex_error() -> None:
    assert issubclass(ProtocolError, CodexError)


def test_an_engine_spawned_for_a_port_that_never_connects_is_stopped_with_it(no_leaks: None) -> None:
    from codex_actors.actors._port import EnginePort
    from codex_actors.actors._root import RootSupervisor

    config, options = fake_engine_config(), RuntimeOptions()
    port = EnginePort.start(config, Router(), options, process=EngineProcess.launch(config, options))
    port.stop()  # never told Connect
    root = RootSupervisor.start(config, options=options, engine=EngineProcess.launch(config, options))
    root.stop()  # never asked StartEngine


def test_a_spawned_engine_is_adopted_by_the_first_port(no_leaks: None) -> None:
    from codex_actors.actors._port import EnginePort

    config, options = fake_engine_config(), RuntimeOptions()
    spawned = EngineProcess.launch(config, options)
    router = Router()
    ref = EnginePort.start(config, router, options, process=spawned)
    with EngineConnection.handshake(ref, router, options).wait() as conn:
        assert conn.status().pid == spawned.pid
        assert msgspec.json.decode(conn.request("test/echo", {"x": 1}, timeout=5)) == {"x": 1}
