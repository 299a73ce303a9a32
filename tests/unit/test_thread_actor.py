"""The thread actor on its own, against a stub connection: no engine, no supervisor, no reader thread.

The stub records what the actor sends and lets the test answer it; notifications are handed to the sink the
actor bound, as the reader thread would.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import msgspec
import pykka
import pytest

from codex_actors._protocol.jsonrpc import RequestId, ServerNotification, decode_lines
from codex_actors._results import TurnResult
from codex_actors.actors._messages import (
    CancelRequest,
    EngineDown,
    EngineUp,
    LineTooLongNote,
    NotificationSink,
    RunTurn,
    StartTurn,
    SubscribeTurn,
    ThreadRequest,
    TurnFinished,
    TurnStarted,
)
from codex_actors.actors._reply import ReplyTo, is_for, reply_error, reply_value
from codex_actors.actors._thread import ThreadActor
from codex_actors.errors import (
    InvalidParamsError,
    InvalidRequestError,
    LineTooLongError,
    TransportClosedError,
    UnknownMessageError,
    UnknownThreadError,
)
from codex_actors.models import JsonObject, UnknownNotification
from tests.support.waiting import wait_until

THREAD = "thr_1"


class StubConnection:
    """An ``EngineHandle`` that keeps every request for the test to answer."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any], ReplyTo]] = []
        self.cancelled: list[ReplyTo] = []
        self.sink: NotificationSink | None = None
        self.alive_now = True
        self._cond = threading.Condition()

    @property
    def alive(self) -> bool:
        return self.alive_now

    def send(self, method: str, params: Any, reply: ReplyTo, trace: dict[str, str] | None = None) -> None:
        with self._cond:
            self.sent.append((method, params, reply))
            self._cond.notify_all()

    def cancel(self, reply: ReplyTo) -> None:
        self.cancelled.append(reply)

    def reply(self, request_id: RequestId, result: Any) -> None:
        raise AssertionError("a thread actor answers no server request")

    def reply_error(self, request_id: RequestId, code: int, message: str, data: Any = None) -> None:
        raise AssertionError("a thread actor answers no server request")

    def bind_thread(self, thread_id: str, sink: NotificationSink) -> None:
        assert thread_id == THREAD
        self.sink = sink

    def unbind_thread(self, thread_id: str, sink: NotificationSink) -> None:
        if self.sink == sink:
            self.sink = None

    def next_sent(self, method: str, timeout: float = 5.0) -> tuple[dict[str, Any], ReplyTo]:
        with self._cond:
            ok = self._cond.wait_for(lambda: any(m == method for m, _, _ in self.sent), timeout)
            assert ok, f"no {method} sent; sent: {[m for m, _, _ in self.sent]}"
            index = next(i for i, (m, _, _) in enumerate(self.sent) if m == method)
            _, params, reply = self.sent.pop(index)
            return params, reply

    def notify(self, *messages: dict[str, Any]) -> None:
        """What the reader thread does with a read of this thread's notifications."""
        lines = [json.dumps(message).encode() for message in messages]
        batch: Sequence[ServerNotification] = [n for n in decode_lines(lines) if isinstance(n, ServerNotification)]
        assert self.sink is not None
        self.sink(batch)


def turn_started(turn: str) -> dict[str, Any]:
    return {"method": "turn/started", "params": {"threadId": THREAD, "turn": turn_body(turn, "inProgress")}}


def turn_body(turn: str, status: str, error: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"id": turn, "items": [], "status": status}
    if error is not None:
        body["error"] = {"message": error}
    return body


def delta(turn: str, text: str) -> dict[str, Any]:
    return {
        "method": "item/agentMessage/delta",
        "params": {"threadId": THREAD, "turnId": turn, "itemId": "m", "delta": text},
    }


def answer(turn: str, text: str) -> dict[str, Any]:
    item = {"type": "agentMessage", "id": "m", "text": text, "phase": "final_answer"}
    params = {"threadId": THREAD, "turnId": turn, "item": item, "completedAtMs": 1}
    return {"method": "item/completed", "params": params}


def turn_completed(turn: str, status: str = "completed", error: str | None = None) -> dict[str, Any]:
    return {"method": "turn/completed", "params": {"threadId": THREAD, "turn": turn_body(turn, status, error)}}


def start_reply(turn: str) -> msgspec.Raw:
    return msgspec.Raw(json.dumps({"turn": turn_body(turn, "inProgress")}).encode())


class Inbox(pykka.ThreadingActor):
    """An actor that keeps what it is told (a RunTurn sender)."""

    def __init__(self) -> None:
        super().__init__()
        self.got: list[Any] = []
        self.cond = threading.Condition()

    def on_receive(self, message: Any) -> Any:
        if message == "got":
            return list(self.got)
        self.got.append(message)
        return None


@pytest.fixture
def stub() -> StubConnection:
    return StubConnection()


@pytest.fixture
def actor(stub: StubConnection) -> Iterator[pykka.ActorRef[ThreadActor]]:
    ref = ThreadActor.start(None, THREAD, stub)
    yield ref
    if ref.is_alive():
        ref.stop()


def start_turn(actor: pykka.ActorRef[ThreadActor], stub: StubConnection, turn: str) -> TurnStarted:
    future: pykka.Future[TurnStarted] = pykka.ThreadingFuture()
    actor.tell(StartTurn({"input": []}, future))
    params, reply = stub.next_sent("turn/start")
    assert params == {"input": [], "threadId": THREAD}
    reply_value(reply, start_reply(turn))
    return future.get(timeout=5)


def read_all(started: TurnStarted) -> list[str]:
    methods: list[str] = []
    while events := started.log.take(started.subscriber, timeout=5):
        methods.extend(event.method for event in events)
    return methods


def test_it_claims_its_threads_notifications_at_start_and_releases_them_at_stop(
    stub: StubConnection, actor: pykka.ActorRef[ThreadActor]
) -> None:
    wait_until(lambda: stub.sink is not None)
    actor.stop()
    assert stub.sink is None


def test_a_turn_reads_from_its_first_event_and_ends_with_the_result_the_actor_assembled(
    stub: StubConnection, actor: pykka.ActorRef[ThreadActor]
) -> None:
    wait_until(lambda: stub.sink is not None)
    future: pykka.Future[TurnStarted] = pykka.ThreadingFuture()
    actor.tell(StartTurn({"input": []}, future))
    _, reply = stub.next_sent("turn/start")
    # the turn's first events arrive before the reply naming it: nothing is lost for the caller
    stub.notify(turn_started("u1"), delta("u1", "he"), delta("u1", "llo"))
    reply_value(reply, start_reply("u1"))
    started = future.get(timeout=5)
    assert started.turn_id == "u1"
    stub.notify(answer("u1", "hello"), turn_completed("u1"))
    assert read_all(started) == [
        "turn/started",
        "item/agentMessage/delta",
        "item/agentMessage/delta",
        "item/completed",
        "turn/completed",
    ]
    result = started.log.result
    assert isinstance(result, TurnResult)
    assert (result.id, result.final_response, result.status.value) == ("u1", "hello", "completed")


def test_run_turn_tells_its_sender_the_result_or_the_failure(
    stub: StubConnection, actor: pykka.ActorRef[ThreadActor]
) -> None:
    inbox = Inbox.start()
    try:
        actor.tell(RunTurn(input="hi", reply_to=inbox, tag="a", model="m1"))
        params, reply = stub.next_sent("turn/start")
        assert params["threadId"] == THREAD and params["model"] == "m1"
        assert params["input"] == [{"type": "text", "text": "hi"}]
        reply_value(reply, start_reply("u1"))
        stub.notify(turn_started("u1"), answer("u1", "done"), turn_completed("u1"))
        (finished,) = wait_until(lambda: inbox.ask("got"))
        assert isinstance(finished, TurnFinished) and finished.tag == "a" and finished.error is None
        assert finished.result is not None and finished.result.final_response == "done"

        actor.tell(RunTurn(input="hi", reply_to=inbox, tag="b"))
        _, reply = stub.next_sent("turn/start")
        reply_error(reply, TransportClosedError("gone"))
        failed = wait_until(lambda: list(inbox.ask("got", timeout=5))[1:])[0]
        assert (failed.tag, failed.turn_id, failed.result) == ("b", None, None)
        assert isinstance(failed.error, TransportClosedError)

        # A failed turn: the error is the one run() raises; the result is there too.
        actor.tell(RunTurn(input="hi", reply_to=inbox, tag="c"))
        _, reply = stub.next_sent("turn/start")
        reply_value(reply, start_reply("u3"))
        stub.notify(turn_started("u3"), turn_completed("u3", "failed", "model exploded"))
        lost = wait_until(lambda: list(inbox.ask("got", timeout=5))[2:])[0]
        assert lost.tag == "c" and isinstance(lost.error, RuntimeError) and str(lost.error) == "model exploded"
        assert lost.result is not None and lost.result.status.value == "failed"

        # Input run() would refuse is refused the same way, without a request.
        actor.tell(RunTurn(input=("a", "tuple"), reply_to=inbox, tag="d"))  # type: ignore[arg-type]
        refused = wait_until(lambda: list(inbox.ask("got", timeout=5))[3:])[0]
        assert refused.tag == "d" and isinstance(refused.error, TypeError)
    finally:
        inbox.stop()


def test_a_thread_request_goes_out_with_the_thread_id_and_its_answer_to_the_caller(
    stub: StubConnection, actor: pykka.ActorRef[ThreadActor]
) -> None:
    future: pykka.Future[Any] = pykka.ThreadingFuture()
    actor.tell(ThreadRequest("thread/read", {"includeTurns": True}, future))
    params, reply = stub.next_sent("thread/read")
    assert params == {"threadId": THREAD, "includeTurns": True}
    assert is_for(
        reply, future
    )  # answered straight to the caller (redirected if never sent), not through the actor


def test_engine_down_fails_the_turn_in_flight_and_holds_requests_until_the_thread_is_resumed(
    stub: StubConnection, actor: pykka.ActorRef[ThreadActor]
) -> None:
    started = start_turn(actor, stub, "u1")
    stub.notify(turn_started("u1"))
    actor.tell(EngineDown(TransportClosedError("the engine died", exit_code=9)))
    with pytest.raises(TransportClosedError, match="the engine died") as info:
        read_all(started)
    assert info.value.exit_code == 9

    held: pykka.Future[Any] = pykka.ThreadingFuture()
    actor.tell(ThreadRequest("thread/read", {}, held))
    fresh = StubConnection()
    actor.tell(EngineUp(fresh))
    params, resumed = fresh.next_sent("thread/resume")
    assert params == {"threadId": THREAD, "excludeTurns": True}
    assert ("thread/read" not in [m for m, _, _ in fresh.sent]) and fresh.sink is not None  # held until resumed
    reply_value(resumed, msgspec.Raw(b"{}"))
    params, reply = fresh.next_sent("thread/read")
    assert params == {"threadId": THREAD} and is_for(reply, held)


def test_requests_held_for_a_thread_that_cannot_be_resumed_fail_with_why_and_the_next_use_retries(
    stub: StubConnection, actor: pykka.ActorRef[ThreadActor]
) -> None:
    actor.tell(EngineDown(TransportClosedError("down")))
    held: pykka.Future[Any] = pykka.ThreadingFuture()
    actor.tell(ThreadRequest("thread/read", {}, held))
    fresh = StubConnection()
    actor.tell(EngineUp(fresh))
    _, resumed = fresh.next_sent("thread/resume")
    reply_error(resumed, InvalidParamsError(-32602, "the engine does not like this thread"))
    with pytest.raises(InvalidParamsError, match="does not like"):
        held.get(timeout=5)
    # Not broken for good: the next use resumes again, and goes out once that works.
    again: pykka.Future[Any] = pykka.ThreadingFuture()
    actor.tell(ThreadRequest("thread/read", {}, again))
    _, resumed = fresh.next_sent("thread/resume")
    reply_value(resumed, msgspec.Raw(b"{}"))
    _, reply = fresh.next_sent("thread/read")
    assert is_for(reply, again)


def test_a_thread_with_no_rollout_to_resume_sends_its_requests_and_an_unknown_one_fails_typed(
    stub: StubConnection, actor: pykka.ActorRef[ThreadActor]
) -> None:
    actor.tell(EngineDown(TransportClosedError("down")))
    finished: pykka.Future[Any] = pykka.ThreadingFuture()
    actor.tell(StartTurn({"input": []}, finished))
    fresh = StubConnection()
    actor.tell(EngineUp(fresh))
    _, resumed = fresh.next_sent("thread/resume")  # a thread with no turn yet has no rollout: it goes out as is
    reply_error(resumed, InvalidRequestError(-32600, "no rollout found for thread id thr_1"))
    _, started = fresh.next_sent("turn/start")
    reply_error(started, InvalidRequestError(-32600, "thread not found: thr_1"))
    with pytest.raises(UnknownThreadError, match="thread not found") as raised:
        finished.get(timeout=5)
    assert raised.value.thread_id == THREAD and isinstance(raised.value, InvalidRequestError)
    assert fresh.sent == []  # no second resume: it would not help


def test_a_turn_the_engine_has_no_thread_for_resumes_the_thread_and_starts_again_once(
    stub: StubConnection, actor: pykka.ActorRef[ThreadActor]
) -> None:
    finished: pykka.Future[TurnStarted] = pykka.ThreadingFuture()
    actor.tell(StartTurn({"input": []}, finished))  # an id alone: sent as it is, no resume first
    _, started = stub.next_sent("turn/start")
    reply_error(started, InvalidRequestError(-32600, "thread not found: thr_1"))
    _, resumed = stub.next_sent("thread/resume")
    reply_value(resumed, msgspec.Raw(b"{}"))
    _, started = stub.next_sent("turn/start")
    reply_value(started, start_reply("u9"))
    assert finished.get(timeout=5).turn_id == "u9"


def test_a_request_sent_while_the_engine_is_gone_unnoticed_is_held_not_lost(
    stub: StubConnection, actor: pykka.ActorRef[ThreadActor]
) -> None:
    stub.alive_now = False  # the port died; the supervisor has not said so yet
    held: pykka.Future[Any] = pykka.ThreadingFuture()
    actor.tell(ThreadRequest("thread/read", {}, held))
    actor.tell(EngineUp(fresh := StubConnection()))
    _, resumed = fresh.next_sent("thread/resume")
    reply_value(resumed, msgspec.Raw(b"{}"))
    _, reply = fresh.next_sent("thread/read")
    assert is_for(reply, held) and stub.sent == []


def test_a_cancelled_request_is_forgotten_here_and_at_the_port(
    stub: StubConnection, actor: pykka.ActorRef[ThreadActor]
) -> None:
    future: pykka.Future[TurnStarted] = pykka.ThreadingFuture()
    actor.tell(StartTurn({"input": []}, future))
    _, reply = stub.next_sent("turn/start")
    actor.tell(CancelRequest(future))
    wait_until(lambda: stub.cancelled == [future])
    reply_value(reply, start_reply("u1"))  # a late answer: nobody is told
    with pytest.raises(pykka.Timeout):
        future.get(timeout=0.2)


def test_a_late_subscriber_of_a_long_finished_turn_gets_an_ended_log(
    stub: StubConnection, actor: pykka.ActorRef[ThreadActor]
) -> None:
    from codex_actors.actors._thread import COMPLETED_TURNS_KEPT

    for n in range(COMPLETED_TURNS_KEPT + 1):
        stub.notify(turn_started(f"u{n}"), turn_completed(f"u{n}"))
    future: pykka.Future[TurnStarted] = pykka.ThreadingFuture()
    actor.tell(SubscribeTurn("u0", True, future))
    started = future.get(timeout=5)
    assert started.log.done and read_all(started) == []


def test_an_unknown_message_told_is_dropped_and_the_actor_lives_on(
    stub: StubConnection, actor: pykka.ActorRef[ThreadActor]
) -> None:
    started = start_turn(actor, stub, "u1")
    actor.tell("what is this?")
    stub.notify(answer("u1", "still here"), turn_completed("u1"))
    assert read_all(started)[-1] == "turn/completed"
    assert actor.is_alive()


def test_an_unknown_message_asked_is_answered_with_an_unknown_message_error(
    stub: StubConnection, actor: pykka.ActorRef[ThreadActor]
) -> None:
    answered = actor.ask("what is this?", timeout=5)
    assert isinstance(answered, UnknownMessageError) and isinstance(answered, TypeError)
    assert "does not handle 'what is this?'" in str(answered)
    assert actor.is_alive()


def dropped_note(turn: str | None) -> LineTooLongNote:
    error = LineTooLongError("item/completed: a line was dropped", size=300, limit=200)
    params: JsonObject = {"threadId": THREAD, "turnId": turn}
    return LineTooLongNote("item/completed", UnknownNotification(params), None, error=error)


@pytest.mark.parametrize("turn_id", ["u1", None], ids=["its-turn", "no-turn-id"])
def test_a_dropped_line_fails_the_turn_in_its_place_and_nothing_after_it_completes_the_turn(
    stub: StubConnection, actor: pykka.ActorRef[ThreadActor], turn_id: str | None
) -> None:
    started = start_turn(actor, stub, "u1")
    lines = [json.dumps(m).encode() for m in (delta("u1", "a"), answer("u1", "late"), turn_completed("u1"))]
    before, *after = [n for n in decode_lines(lines) if isinstance(n, ServerNotification)]
    assert stub.sink is not None
    stub.sink([before, dropped_note(turn_id), *after])  # one read: the dropped line between the others
    methods: list[str] = []
    with pytest.raises(LineTooLongError):
        while events := started.log.take(started.subscriber, timeout=5):
            methods.extend(event.method for event in events)
    assert methods == ["item/agentMessage/delta"]  # the events after it are not the turn's any more
    assert started.log.result is None


# -- turns nobody claimed ---------------------------------------------------------------------------------------


def turn_table(actor: pykka.ActorRef[ThreadActor]) -> dict[str, Any]:
    """The actor's turn table, once it handled everything told before (an unknown message asked: a barrier)."""
    actor.ask("barrier", timeout=5)
    instance = actor._actor_weakref()
    assert instance is not None
    return instance._turns


def test_events_of_turns_nobody_claimed_keep_nothing_when_no_turn_start_is_in_flight(
    stub: StubConnection, actor: pykka.ActorRef[ThreadActor]
) -> None:
    wait_until(lambda: stub.sink is not None)
    for n in range(2000):
        stub.notify(turn_started(f"x{n}"), delta(f"x{n}", "lost"))
        stub.notify(delta(f"y{n}", "lost"))  # the one-turn fast path
    assert turn_table(actor) == {}
    started = start_turn(actor, stub, "u1")
    stub.notify(answer("u1", "hello"), turn_completed("u1"))
    assert read_all(started)[-1] == "turn/completed"
    assert isinstance(started.log.result, TurnResult)
    assert started.log.result.final_response == "hello"


def test_turns_nobody_claimed_are_kept_bounded_while_a_turn_start_is_in_flight_then_dropped(
    stub: StubConnection, actor: pykka.ActorRef[ThreadActor]
) -> None:
    from codex_actors.actors._thread import UNCLAIMED_TURNS_KEPT

    wait_until(lambda: stub.sink is not None)
    future: pykka.Future[TurnStarted] = pykka.ThreadingFuture()
    actor.tell(StartTurn({"input": []}, future))
    _, reply = stub.next_sent("turn/start")
    for n in range(1000):
        stub.notify(delta(f"x{n}", "other"), turn_completed(f"x{n}"))
        stub.notify(delta(f"y{n}", "other"))
    assert len(turn_table(actor)) <= UNCLAIMED_TURNS_KEPT  # the oldest were dropped
    stub.notify(turn_started("u1"), delta("u1", "he"))  # the turn the reply will name: its events come first
    stub.notify(delta("u1", "llo"))
    reply_value(reply, start_reply("u1"))
    started = future.get(timeout=5)
    assert list(turn_table(actor)) == ["u1"]  # nothing unclaimed is kept once no turn/start is in flight
    stub.notify(answer("u1", "hello"), turn_completed("u1"))
    assert read_all(started) == [
        "turn/started",
        "item/agentMessage/delta",
        "item/agentMessage/delta",
        "item/completed",
        "turn/completed",
    ]
