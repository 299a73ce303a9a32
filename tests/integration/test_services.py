"""The runtime's service actors and edge cases, on the REAL engine against the scripted model.

Approvals, client-side tools, telemetry, failed/interrupted/steered/joined turns, turn handles, the thread
methods, the runtime's lifecycle edges, thread actor crashes and engine restarts seen from a thread.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Generator
from typing import Any, cast

import pykka
import pytest

from codex_actors import ApprovalMode, Codex, Sandbox, TransportClosedError
from codex_actors._failures import NOT_RUNNING
from codex_actors._protocol.generated import (
    AgentMessageThreadItem,
    CommandExecutionThreadItem,
    ContextCompactionThreadItem,
    DynamicToolCallThreadItem,
    IdleThreadStatus,
    InputTextDynamicToolCallOutputContentItem,
    TextUserInput,
    TurnCompletedNotification,
    TurnStatus,
    UserMessageThreadItem,
)
from codex_actors._protocol.jsonrpc import decode_payload
from codex_actors._sync_api import Thread, TurnHandle
from codex_actors.actors import GetCounts
from codex_actors.actors._messages import (
    EngineDown,
    EngineUp,
    RunTurn,
    ThreadRequest,
    TurnFinished,
)
from codex_actors.actors._root import RootSupervisor
from codex_actors.actors._supervisor import GetChild, WhichChildren
from codex_actors.actors._thread import COMPLETED_TURNS_KEPT, thread_child_name
from codex_actors.errors import InvalidRequestError, RequestTimeoutError, UnknownThreadError
from codex_actors.testing import (
    Gate,
    OfflineEngine,
    exec_command,
    failed,
    http_error,
    message,
    reply,
    streamed_message,
    tool_call,
)
from tests.support.waiting import ask, wait_until

# -- helpers ------------------------------------------------------------------------------------------------------


def root_of(codex: Codex) -> RootSupervisor:
    """The root supervisor object itself (its ``unowned`` buffer is thread-safe to read from here)."""
    actor = codex.supervisor._actor_weakref()
    assert isinstance(actor, RootSupervisor)
    return actor


def telemetry_counts(codex: Codex) -> dict[str, int]:
    telemetry = ask(codex.supervisor, GetChild("telemetry"))
    assert telemetry is not None
    counts: dict[str, int] = ask(telemetry, GetCounts())
    return counts


def engine_pid(codex: Codex) -> int | None:
    """The engine's pid as the supervisor sees it now (None while its port is down)."""
    try:
        return codex._client.runtime.connection().status().pid
    except TransportClosedError:
        return None


def wait_for_new_engine(codex: Codex, old_pid: int) -> int:
    """Wait until the supervisor answers with a restarted engine: it has told every thread EngineDown, EngineUp."""
    pid: int = wait_until(lambda: (p := engine_pid(codex)) not in (None, old_pid) and p, "a restarted engine")
    return pid


def kill_engine(codex: Codex) -> int:
    pid = engine_pid(codex)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    return pid


def raw_thread(codex: Codex, **params: Any) -> Thread:
    """A thread started with wire params the facade does not offer, bound to its actor like ``thread_start``."""
    return codex._open_thread("thread/start", params)


def quiet_thread(codex: Codex) -> Thread:
    return codex.thread_start(approval_mode=ApprovalMode.deny_all)


class Waiter(pykka.ThreadingActor):
    """An actor that hands the first message it gets (a TurnFinished) to a future."""

    def __init__(self, done: pykka.Future[TurnFinished]) -> None:
        super().__init__()
        self.done = done

    def on_receive(self, msg: Any) -> None:
        self.done.set(msg)


def completion(events: list[Any]) -> TurnCompletedNotification:
    assert events, "no events"
    assert events[-1].method == "turn/completed"
    payload = events[-1].payload
    assert isinstance(payload, TurnCompletedNotification)
    return payload


# -- 1. the approval broker -------------------------------------------------------------------------------------


def test_the_approval_broker_accepts_a_command_and_the_engine_runs_it(offline: OfflineEngine) -> None:
    offline.model.enqueue(reply(exec_command("touch approved.txt")), message("touched"))
    with Codex(offline.config) as codex:
        thread = raw_thread(codex, approvalPolicy="untrusted", approvalsReviewer="user", sandbox="workspace-write")
        result = thread.run("touch a file")
        assert result.status == TurnStatus.completed
        assert result.final_response == "touched"
        assert (offline.workspace / "approved.txt").exists()
        commands = [item for item in result.items if isinstance(item, CommandExecutionThreadItem)]
        assert len(commands) == 1
        assert commands[0].exit_code == 0
        # The engine asked (and waited): the request was resolved for this thread, and nobody else claimed it.
        resolved = root_of(codex).unowned.wait_for("serverRequest/resolved", 5)
        assert decode_payload(resolved.params, dict[str, Any])["threadId"] == thread.id
    offline.model.assert_done()


# -- 2. the tool registry ---------------------------------------------------------------------------------------

LOOKUP_TOOL = {
    "type": "function",
    "name": "lookup",
    "description": "Look something up on the client.",
    "inputSchema": {"type": "object", "properties": {}},
}


def test_the_tool_registry_answers_a_dynamic_tool_call_as_failed(offline: OfflineEngine) -> None:
    offline.model.enqueue(reply(tool_call("lookup", {"q": "x"})), message("no such tool, then"))
    with Codex(offline.config) as codex:
        thread = raw_thread(codex, approvalPolicy="never", dynamicTools=[LOOKUP_TOOL])
        result = thread.run("look it up")
    assert result.status == TurnStatus.completed
    assert result.final_response == "no such tool, then"
    expected = "no client-side tool named 'lookup' is registered"
    assert offline.model.requests[-1].tool_output() == expected  # what the model got back
    calls = [item for item in result.items if isinstance(item, DynamicToolCallThreadItem)]
    assert len(calls) == 1
    assert calls[0].tool == "lookup"
    assert calls[0].success is False
    assert calls[0].arguments == {"q": "x"}
    assert calls[0].content_items == [InputTextDynamicToolCallOutputContentItem(text=expected)]
    offline.model.assert_done()


# -- 3. telemetry -----------------------------------------------------------------------------------------------


def test_telemetry_counts_unowned_notifications_and_engine_exits(offline: OfflineEngine) -> None:
    offline.model.enqueue(message("hi"))
    with Codex(offline.config) as codex:
        thread = quiet_thread(codex)
        thread.run("hello")

        # Thread-level notifications that belong to no turn go from the thread actor to the global sink.
        def counted(method: str, at_least: int) -> dict[str, int]:
            counts = telemetry_counts(codex)
            return counts if counts.get(method, 0) >= at_least else {}

        counts = wait_until(lambda: counted("thread/status/changed", 2), "thread/status/changed counted")
        assert counts["thread/started"] == 1
        assert "EngineExitedEvent" not in counts
        assert "turn/completed" not in counts  # owned by the thread actor, never unowned
        pid = kill_engine(codex)
        counts = wait_until(lambda: counted("EngineExitedEvent", 1), "EngineExitedEvent")
        wait_for_new_engine(codex, pid)
        # The telemetry actor is a sibling of the engine: a restart of the engine keeps its counters.
        assert telemetry_counts(codex)["thread/started"] == 1


# -- 4. failed turns --------------------------------------------------------------------------------------------


def test_a_failed_response_makes_run_raise_a_plain_runtime_error(offline: OfflineEngine) -> None:
    offline.model.enqueue(failed("boom"), failed("boom again"))
    with Codex(offline.config) as codex:
        thread = quiet_thread(codex)
        with pytest.raises(RuntimeError, match="boom") as info:
            thread.run("fail please")
        assert type(info.value) is RuntimeError  # not a CodexError: the engine worked, the turn failed
        assert str(info.value) == "stream disconnected before completion: boom"  # the engine's own wording
        events = list(thread.turn("fail again").stream())  # stream() itself does not raise
    done = completion(events)
    assert done.turn.status == TurnStatus.failed
    assert done.turn.error is not None
    assert "boom again" in done.turn.error.message
    offline.model.assert_done()


def test_an_http_400_from_the_model_fails_the_turn_with_the_engines_message(offline: OfflineEngine) -> None:
    body = {"error": {"message": "bad request here", "type": "invalid_request_error"}}
    offline.model.enqueue(http_error(400, body), http_error(400, body), message("recovered"))
    with Codex(offline.config) as codex:
        thread = quiet_thread(codex)
        with pytest.raises(RuntimeError, match="bad request here") as info:
            thread.run("x")
        assert type(info.value) is RuntimeError
        events = list(thread.turn("y").stream())
        assert completion(events).turn.status == TurnStatus.failed
        assert thread.run("z").final_response == "recovered"  # the thread is fine after failed turns
    offline.model.assert_done()


# -- 5. interrupt and steer -------------------------------------------------------------------------------------


def test_steer_then_interrupt_an_active_turn(offline: OfflineEngine) -> None:
    gate = Gate()
    offline.model.enqueue(reply(message("working..."), gate, message("never sent")))
    with Codex(offline.config) as codex:
        thread = quiet_thread(codex)
        handle = thread.turn("go")
        try:
            gate.wait_reached()
            steered = handle.steer("more")
            assert steered.turn_id == handle.id
            handle.interrupt()
            result = handle.run()
            assert result.status == TurnStatus.interrupted
            assert result.id == handle.id
            with pytest.raises(InvalidRequestError, match="no active turn to steer"):
                handle.steer("too late")
        finally:
            gate.open()


# -- 6. joining an active turn ----------------------------------------------------------------------------------


def test_a_second_turn_joins_the_active_one_and_every_caller_sees_the_whole_turn(offline: OfflineEngine) -> None:
    gate = Gate()
    # The joined input makes the engine ask the model once more within the same turn (twice, if the two joined
    # inputs reach it in different rounds: the second "after the join" is there for that).
    offline.model.enqueue(
        reply(message("working..."), gate, message("first part")),
        message("after the join"),
        message("after the join"),
    )
    with Codex(offline.config) as codex:
        thread = quiet_thread(codex)
        first = thread.turn("a")
        done: pykka.Future[TurnFinished] = pykka.ThreadingFuture()
        waiter = Waiter.start(done)
        try:
            gate.wait_reached()
            thread.actor_ref.tell(RunTurn(input="c", reply_to=waiter, tag="joined"))
            second = thread.turn("b")  # sent after the RunTurn's turn/start, through the same actor and port
            assert second.id == first.id
            gate.open()
            results = [first.run(), second.run()]
            finished = done.get(timeout=20)
        finally:
            gate.open()
            waiter.stop()
    for result in results:
        assert result.id == first.id
        assert result.final_response == "after the join"
        prompts = [
            part.text
            for item in result.items
            if isinstance(item, UserMessageThreadItem)
            for part in item.content
            if isinstance(part, TextUserInput)
        ]
        assert prompts[0] == "a"  # every caller saw the turn from its first item, before it joined
        assert sorted(prompts) == ["a", "b", "c"]
    assert results[0].items == results[1].items
    assert finished.turn_id == first.id
    assert finished.tag == "joined"
    assert finished.error is None
    assert finished.result is not None
    assert finished.result.items == results[0].items
    assert {"b", "c"} <= set(offline.model.requests[-1].message_texts())
    assert offline.model.unexpected_requests == []


def test_a_refused_turn_start_is_a_typed_error_for_callers_and_actors(offline: OfflineEngine) -> None:
    unknown = "00000000-0000-7000-8000-000000000009"
    with Codex(offline.config) as codex:
        with pytest.raises(UnknownThreadError, match=f"thread not found: {unknown}") as raised:
            Thread(codex._client, unknown).turn("hello")
        assert raised.value.thread_id == unknown
        finished: pykka.Future[TurnFinished] = pykka.ThreadingFuture()
        waiter = Waiter.start(finished)
        try:
            codex.thread_ref(unknown).tell(RunTurn(input="hello", reply_to=waiter, tag=7))
            done = finished.get(timeout=10)
        finally:
            waiter.stop()
    assert (done.thread_id, done.turn_id, done.result, done.tag) == (unknown, None, None, 7)
    assert isinstance(done.error, UnknownThreadError)
    assert isinstance(done.error, InvalidRequestError)
    assert offline.model.requests == []


# -- 7. turn handles --------------------------------------------------------------------------------------------


def test_a_handle_is_consumed_once(offline: OfflineEngine) -> None:
    offline.model.enqueue(message("one"), message("two"), message("three"))
    with Codex(offline.config) as codex:
        thread = quiet_thread(codex)
        handle = thread.turn("a")
        assert handle.run().final_response == "one"
        with pytest.raises(TransportClosedError, match="Turn subscription closed"):
            handle.run()
        with pytest.raises(TransportClosedError, match="Turn subscription closed"):
            list(handle.stream())
        other = thread.turn("b")
        for event in other.stream():
            assert event.method == "turn/started"
            break  # dropping a stream half-read closes the subscription
        with pytest.raises(TransportClosedError, match="Turn subscription closed"):
            other.run()
        third = thread.turn("c")  # (the engine may fold this input into turn "b", still running)
        stream = cast(Generator[Any, None, None], third.stream())
        next(stream)
        stream.close()  # so does closing it
        with pytest.raises(TransportClosedError, match="Turn subscription closed"):
            third.run()


def test_a_hand_built_handle_sees_only_future_events(offline: OfflineEngine) -> None:
    gate = Gate()
    offline.model.enqueue(reply(streamed_message("work", "ing"), gate, message("done")))
    with Codex(offline.config) as codex:
        thread = quiet_thread(codex)
        handle = thread.turn("go")
        try:
            stream = handle.stream()
            seen = []
            for event in stream:  # read up to the first message's completion: all that comes before the gate
                seen.append(event)
                if event.method == "item/completed" and isinstance(event.payload.item, AgentMessageThreadItem):
                    break
            late = TurnHandle(codex._client, thread.id, handle.id)
            gate.open()
            rest = list(stream)
            late_events = list(late.stream())
        finally:
            gate.open()
        assert seen[0].method == "turn/started"
        assert completion(rest).turn.status == TurnStatus.completed
        assert late_events  # it saw the rest of the turn, and only that: a suffix of what the first handle saw
        assert rest[len(rest) - len(late_events) :] == late_events
        assert all(event.method != "turn/started" for event in late_events)
        assert any(event.method == "item/agentMessage/delta" for event in seen)
        assert not any(event.method == "item/agentMessage/delta" for event in late_events)
        # A hand-built handle of a turn that has ended already (and is still kept) ends at once.
        assert list(TurnHandle(codex._client, thread.id, handle.id).stream()) == []


def test_a_hand_built_handle_of_a_pruned_turn_does_not_block_forever(offline: OfflineEngine) -> None:
    offline.model.enqueue(*[message(f"answer {index}") for index in range(COMPLETED_TURNS_KEPT + 1)])
    outcome: list[Any] = []
    with Codex(offline.config) as codex:
        thread = quiet_thread(codex)
        first = thread.run("turn 0")
        for index in range(1, COMPLETED_TURNS_KEPT + 1):
            thread.run(f"turn {index}")
        late = TurnHandle(codex._client, thread.id, first.id)

        def consume() -> None:
            try:
                outcome.append(list(late.stream()))
            except TransportClosedError as exc:  # the runtime closed while it was still waiting
                outcome.append(exc)

        worker = threading.Thread(target=consume, daemon=True)
        worker.start()
        worker.join(2.0)
        ended_by_itself = not worker.is_alive()
    worker.join(10)  # close() ends the never-ending log, so the worker never outlives the test
    assert ended_by_itself, "stream() of a pruned turn was still waiting after 2 s"
    assert outcome == [[]]


# -- 8. thread methods ------------------------------------------------------------------------------------------


def test_read_name_and_compact_a_thread(offline: OfflineEngine) -> None:
    offline.model.enqueue(message("one"), message("a summary of the conversation"))
    with Codex(offline.config) as codex:
        thread = quiet_thread(codex)
        fresh = thread.read()
        assert fresh.thread.id == thread.id
        assert fresh.thread.turns == []
        assert fresh.thread.name is None
        thread.run("first")
        assert thread.read().thread.turns == []  # turns only when asked
        turns = thread.read(include_turns=True).thread.turns
        assert [turn.status for turn in turns] == [TurnStatus.completed]
        thread.set_name("x")
        assert thread.read().thread.name == "x"
        thread.compact()  # compaction is a turn of its own, with a model request of its own
        offline.model.wait_for_requests(2)

        def compacted() -> bool:
            turns = thread.read(include_turns=True).thread.turns
            return len(turns) == 2 and turns[-1].status == TurnStatus.completed

        wait_until(compacted, "the compaction turn completed")
        last = thread.read(include_turns=True).thread.turns[-1]
        assert any(isinstance(item, ContextCompactionThreadItem) for item in last.items)
    offline.model.assert_done()


def test_resume_fork_archive_list_and_models(offline: OfflineEngine) -> None:
    offline.model.enqueue(message("one"), message("in the fork"), message("after unarchive"))
    with Codex(offline.config) as codex:
        thread = quiet_thread(codex)
        thread.run("first")
        resumed = codex.thread_resume(thread.id)
        assert resumed.id == thread.id
        assert resumed.actor_ref == thread.actor_ref  # one actor per thread, however many Thread objects
        fork = codex.thread_fork(thread.id)
        assert fork.id != thread.id
        assert len(fork.read(include_turns=True).thread.turns) == 1  # the history came along
        assert fork.run("second").final_response == "in the fork"
        listed = codex.thread_list(limit=5)
        assert thread.id in [row.id for row in listed.data]
        assert len(listed.data) <= 5
        codex.thread_archive(thread.id)
        assert thread.id not in [row.id for row in codex.thread_list(limit=5).data]
        assert thread.id in [row.id for row in codex.thread_list(limit=5, archived=True).data]
        unarchived = codex.thread_unarchive(thread.id)
        assert unarchived.id == thread.id
        assert unarchived.read().thread.name is None
        # Archiving unloaded the thread in the engine and unarchiving does not load it again: the engine answers a
        # turn "thread not found", so the thread's actor resumes it and starts the turn again (the official SDK
        # raises; a thread_resume first was needed).
        assert unarchived.run("after unarchive").final_response == "after unarchive"
        models = codex.models()
        assert models.data
        assert all(model.id for model in models.data)
    offline.model.assert_done()


def test_unknown_thread_ids_are_invalid_requests(offline: OfflineEngine) -> None:
    with Codex(offline.config) as codex:
        with pytest.raises(InvalidRequestError, match="no rollout found"):
            codex.thread_resume("00000000-0000-7000-8000-000000000001")
        with pytest.raises(InvalidRequestError, match="invalid session id"):
            codex.thread_resume("not-a-thread-id")
        never_used = quiet_thread(codex)  # a thread without a turn has nothing on disk to fork from
        with pytest.raises(InvalidRequestError, match="no rollout found"):
            codex.thread_fork(never_used.id)


# -- 9. runtime edges -------------------------------------------------------------------------------------------


def test_every_call_after_close_raises_transport_closed(offline: OfflineEngine, no_leaks: None) -> None:
    offline.model.enqueue(message("one"))
    codex = Codex(offline.config)
    thread = quiet_thread(codex)
    handle = thread.turn("a")
    handle.run()
    codex.close()
    codex.close()  # idempotent
    calls: list[Callable[[], Any]] = [
        codex.thread_start,
        codex.models,
        lambda: codex.thread_list(limit=1),
        lambda: codex.thread_resume(thread.id),
        thread.read,
        lambda: thread.run("b"),
        lambda: thread.turn("b"),
        lambda: handle.steer("c"),
        lambda: handle.interrupt(),
        lambda: thread.actor_ref.tell(RunTurn(input="b")),
        lambda: codex.thread_ref(thread.id).ask(RunTurn(input="b")),
    ]
    for call in calls:
        with pytest.raises(TransportClosedError, match=NOT_RUNNING):
            call()
    assert codex.metadata.serverInfo is not None  # still readable after close
    assert codex.metadata.serverInfo.version
    with Codex(offline.config) as again:  # a second runtime in the same process is independent
        assert again.metadata.userAgent == codex.metadata.userAgent


def crash_actor(codex: Codex, thread: Thread) -> pykka.ActorRef[Any]:
    """Crash the thread's running actor (as a bug in it would); returns the dead incarnation's ref."""
    ref = codex._client.bind_thread(thread.id)
    ref.proxy().crash(RuntimeError("test: the thread actor broke")).get(timeout=5)
    return ref


def test_a_crashed_thread_actor_is_restarted_and_the_thread_keeps_working(offline: OfflineEngine) -> None:
    offline.model.enqueue(message("before"), message("after"))
    with Codex(offline.config) as codex:
        thread = quiet_thread(codex)
        assert thread.run("one").final_response == "before"
        address = thread.actor_ref
        old = crash_actor(codex, thread)
        name = thread_child_name(thread.id)

        def restarted() -> Any:
            rows = ask(codex.supervisor, WhichChildren())
            return next((r for r in rows if r.name == name and r.restarts == 1 and r.alive), None)

        row = wait_until(restarted, "the thread actor restarted")
        assert row.restart == "transient"
        assert thread.actor_ref == address  # the address stays; the incarnation behind it changed
        assert codex._client.bind_thread(thread.id) != old
        assert thread.run("two").final_response == "after"
        assert len(thread.read(include_turns=True).thread.turns) == 2
    offline.model.assert_done()


def test_a_thread_actor_crash_mid_turn_fails_that_turn_at_once(offline: OfflineEngine) -> None:
    gate = Gate()
    offline.model.enqueue(reply(message("working..."), gate, message("finished anyway")), message("next"))
    with Codex(offline.config) as codex:
        thread = quiet_thread(codex)
        handle = thread.turn("a")
        try:
            gate.wait_reached()
            crash_actor(codex, thread)
            with pytest.raises(TransportClosedError, match="crashed"):
                handle.run()
        finally:
            gate.open()
        # The engine's turn went on; its completion reaches the restarted actor, and the thread is usable.
        wait_until(lambda: isinstance(thread.read().thread.status, IdleThreadStatus), "the thread is idle again")
        assert thread.run("b").final_response == "next"
    offline.model.assert_done()


# -- 10. engine restarts, seen from a thread --------------------------------------------------------------------


def test_a_request_right_after_the_restart_is_held_and_then_sent(offline: OfflineEngine) -> None:
    offline.model.enqueue(message("one"), message("two"))
    with Codex(offline.config) as codex:
        thread = quiet_thread(codex)
        thread.run("first")
        pid = kill_engine(codex)
        wait_for_new_engine(codex, pid)  # EngineDown and EngineUp are in the thread's mailbox before this read
        assert len(thread.read(include_turns=True).thread.turns) == 1
        assert thread.run("second").final_response == "two"
    offline.model.assert_done()


def test_a_request_sent_as_the_engine_dies_fails_fast_and_the_next_one_works(offline: OfflineEngine) -> None:
    offline.model.enqueue(message("one"), message("two"))
    with Codex(offline.config) as codex:
        thread = quiet_thread(codex)
        thread.run("first")
        pid = kill_engine(codex)
        # Sent before the thread actor knows: it goes to the dying engine and fails with its exit (it is not
        # retried: the SDK cannot tell whether the engine acted on it). It never waits out its timeout.
        try:
            codex._client.thread_request(thread.id, "thread/read", {}, timeout=5)
        except TransportClosedError as exc:
            assert exc.exit_code == -9
        wait_for_new_engine(codex, pid)
        assert len(thread.read(include_turns=True).thread.turns) == 1
        assert thread.run("second").final_response == "two"
    offline.model.assert_done()


def test_a_request_that_finds_the_port_dead_is_held_for_the_new_engine(
    offline: OfflineEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = threading.Event(), threading.Event()
    on_child_down = RootSupervisor.on_child_down

    def slow_child_down(self: RootSupervisor, name: str, reason: BaseException | None) -> None:
        if name == "engine":
            entered.set()
            release.wait(5)  # the port is dead; the threads have not been told yet
        on_child_down(self, name, reason)

    monkeypatch.setattr(RootSupervisor, "on_child_down", slow_child_down)
    offline.model.enqueue(message("one"))
    with Codex(offline.config) as codex:
        thread = quiet_thread(codex)
        thread.run("first")
        actor = thread.actor_ref
        port = codex._client.runtime.connection().ref
        kill_engine(codex)
        try:
            assert entered.wait(5)
            assert not port.is_alive()
            read: pykka.Future[Any] = pykka.ThreadingFuture()
            actor.tell(ThreadRequest("thread/read", {}, read))
        finally:
            release.set()
        assert decode_payload(read.get(timeout=10), dict[str, Any])["thread"]["id"] == thread.id


def test_requests_told_while_the_engine_is_down_wait_for_the_resume(offline: OfflineEngine) -> None:
    offline.model.enqueue(message("one"), message("held turn"))
    with Codex(offline.config) as codex:
        thread = quiet_thread(codex)
        thread.run("first")
        actor = thread.actor_ref
        actor.tell(EngineDown(TransportClosedError("test: the engine is down")))
        read: pykka.Future[Any] = pykka.ThreadingFuture()
        finished: pykka.Future[TurnFinished] = pykka.ThreadingFuture()
        waiter = Waiter.start(finished)
        try:
            actor.tell(ThreadRequest("thread/read", {"includeTurns": True}, read))
            actor.tell(RunTurn(input="held", reply_to=waiter, tag="held"))
            with pytest.raises(pykka.Timeout):
                read.get(timeout=0.2)  # held, not sent
            actor.tell(
                EngineUp(codex._client.runtime.connection())
            )  # "a new engine": the same one; the thread resumes on it
            assert len(decode_payload(read.get(timeout=10), dict[str, Any])["thread"]["turns"]) == 1
            done = finished.get(timeout=10)
        finally:
            waiter.stop()
    assert done.error is None
    assert done.result is not None
    assert done.result.final_response == "held turn"
    assert offline.model.requests[-1].message_texts()[-1] == "held"
    offline.model.assert_done()


def test_engine_down_fails_the_active_turn_with_its_error(offline: OfflineEngine) -> None:
    gate = Gate()
    offline.model.enqueue(reply(message("working..."), gate, message("finished")), message("next"))
    with Codex(offline.config) as codex:
        thread = quiet_thread(codex)
        handle = thread.turn("a")
        try:
            gate.wait_reached()
            thread.actor_ref.tell(EngineDown(TransportClosedError("test: the engine is down")))
            with pytest.raises(TransportClosedError, match="test: the engine is down"):
                handle.run()
            thread.actor_ref.tell(EngineUp(codex._client.runtime.connection()))
        finally:
            gate.open()
        wait_until(lambda: isinstance(thread.read().thread.status, IdleThreadStatus), "the thread is idle again")
        assert thread.run("b").final_response == "next"


def test_a_thread_the_new_engine_cannot_resume_fails_its_requests_typed(
    offline: OfflineEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="codex_actors.thread")
    with Codex(offline.config) as codex:
        thread = quiet_thread(codex)  # no turn yet: nothing on disk, so the new engine cannot resume it
        pid = kill_engine(codex)
        wait_for_new_engine(codex, pid)
        for _ in range(2):  # each use tries again
            with pytest.raises(UnknownThreadError, match="thread not found") as info:
                thread.turn("hello")
            assert info.value.thread_id == thread.id
        tried = [record for record in caplog.records if "nothing to resume" in record.getMessage()]
        assert len(tried) == 2 and tried[0].thread_id == thread.id  # type: ignore[attr-defined]


def test_workspace_write_turn_sandbox_is_sent_per_turn(offline: OfflineEngine) -> None:
    offline.model.enqueue(reply(exec_command("touch per-turn.txt")), message("done"))
    with Codex(offline.config) as codex:
        thread = quiet_thread(codex)
        result = thread.run("touch", sandbox=Sandbox.workspace_write)
    assert result.final_response == "done"
    assert (offline.workspace / "per-turn.txt").exists()
    offline.model.assert_done()


def test_a_held_turn_start_that_timed_out_is_never_sent(offline: OfflineEngine) -> None:
    offline.model.enqueue(message("warm"), message("the real one"))
    with Codex(offline.config) as codex:
        thread = quiet_thread(codex)
        thread.run("warm up")  # something on disk to resume from
        thread.actor_ref.tell(EngineDown(TransportClosedError("test: the engine is down")))
        ghost = {"input": [{"type": "text", "text": "ghost"}]}
        with pytest.raises(RequestTimeoutError, match=r"turn/start got no reply within 0\.2 s"):
            codex._client.start_turn(thread.id, ghost, timeout=0.2)
        thread.actor_ref.tell(EngineUp(codex._client.runtime.connection()))
        # Had the given-up start gone out after the resume, this turn would have joined the ghost's.
        assert thread.run("real").final_response == "the real one"
    texts = [text for request in offline.model.requests for text in request.message_texts()]
    assert "real" in texts
    assert "ghost" not in texts
    offline.model.assert_done()
