"""The actor runtime on the REAL engine: crash survival, escalation, concurrency, isolation, actor refs."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import threading
import time
from typing import Any

import pykka
import pytest

from codex_actors import ApprovalMode, Codex, EngineCrashed, Sandbox, TransportClosedError
from codex_actors.actors._messages import RunTurn, StartThread, StopThread, TurnFinished
from codex_actors.actors._supervisor import WhichChildren
from codex_actors.testing import Gate, OfflineEngine, message, reply, streamed_message
from tests.support.leaks import assert_nothing_leaked, snapshot
from tests.support.waiting import kill_and_wait


def engine_pid(codex: Codex) -> int:
    pid = codex._client.runtime.connection().status().pid
    assert pid is not None
    return pid


def wait_for_new_engine(codex: Codex, old_pid: int, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pid = engine_pid(codex)
        except (TransportClosedError, pykka.ActorDeadError):
            pid = old_pid
        if pid != old_pid:
            return pid
        time.sleep(0.02)
    raise AssertionError("the engine was not restarted")


def test_kill_9_mid_turn_fails_that_turn_and_the_same_thread_runs_on(offline: OfflineEngine) -> None:
    gate = Gate()
    offline.model.enqueue(message("first"), reply(message("working..."), gate, message("never")), message("third"))
    with Codex(offline.config) as codex:
        thread = codex.thread_start(approval_mode=ApprovalMode.deny_all)
        assert thread.run("one").final_response == "first"
        handle = thread.turn("two")
        gate.wait_reached()
        pid = engine_pid(codex)
        os.kill(pid, signal.SIGKILL)
        started = time.monotonic()
        with pytest.raises(TransportClosedError) as info:
            handle.run()
        assert time.monotonic() - started < 2.0
        assert info.value.exit_code == -9
        result = thread.run("three")  # the same Thread object, on the new engine
        assert result.final_response == "third"
        assert wait_for_new_engine(codex, pid) != pid
        turns = thread.read(include_turns=True).thread.turns
        assert len(turns) == 3
        info_rows = codex.supervisor.ask(WhichChildren())
        engine_row = next(row for row in info_rows if row is not None and row.name == "engine")
        assert engine_row.restarts == 1


def test_past_the_restart_limit_use_raises_engine_crashed_and_nothing_leaks(offline: OfflineEngine) -> None:
    offline.model.enqueue(message("ok"))
    before = snapshot()
    codex = Codex(offline.config)
    try:
        thread = codex.thread_start(approval_mode=ApprovalMode.deny_all)
        assert thread.run("warm up").final_response == "ok"
        pid = engine_pid(codex)
        for _ in range(3):  # three restarts are within the default intensity (3 in 5 s)
            os.kill(pid, signal.SIGKILL)
            pid = wait_for_new_engine(codex, pid)
        os.kill(pid, signal.SIGKILL)  # the fourth within the window: the supervisor gives up
        deadline = time.monotonic() + 10
        while True:
            try:
                thread.run("after the fourth crash")
            except EngineCrashed as crashed:
                assert "gave up" in str(crashed)
                assert "engine" in str(crashed)
                break
            except TransportClosedError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        with pytest.raises(EngineCrashed):
            codex.thread_start()
    finally:
        codex.close()
    assert_nothing_leaked(before)


def test_32_threads_run_concurrently_and_each_stream_gets_only_its_own_events(offline: OfflineEngine) -> None:
    count = 32
    offline.model.enqueue(*[reply(streamed_message("al", "pha", " ", "beta")) for _ in range(count)])
    with Codex(offline.config) as codex:
        threads = [codex.thread_start(approval_mode=ApprovalMode.deny_all) for _ in range(count)]
        handles = [thread.turn(f"go {index}") for index, thread in enumerate(threads)]
        streams: dict[int, list[Any]] = {}
        errors: list[BaseException] = []

        def consume(index: int) -> None:
            try:
                streams[index] = list(handles[index].stream())
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        workers = [threading.Thread(target=consume, args=(i,)) for i in range(count)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert not errors
    for index, events in streams.items():
        thread_id, turn_id = threads[index].id, handles[index].id
        assert events[0].method == "turn/started"
        assert events[-1].method == "turn/completed"
        for event in events:
            payload = event.payload
            assert getattr(payload, "thread_id", thread_id) == thread_id
            assert getattr(payload, "turn_id", turn_id) == turn_id
        deltas = "".join(e.payload.delta for e in events if e.method == "item/agentMessage/delta")
        assert deltas == "alpha beta"


def test_a_slow_stream_consumer_does_not_delay_other_threads(offline: OfflineEngine) -> None:
    offline.model.enqueue(reply(streamed_message(*"abcdefghij")), message("b1"), message("b2"), message("b3"))
    with Codex(offline.config) as codex:
        slow_thread = codex.thread_start(approval_mode=ApprovalMode.deny_all)
        fast_thread = codex.thread_start(approval_mode=ApprovalMode.deny_all)
        slow_turn = slow_thread.turn("slow")
        consumed: list[str] = []
        release = threading.Event()

        def slow_consumer() -> None:
            for event in slow_turn.stream():
                consumed.append(event.method)
                release.wait(10)  # blocked on its first event until the fast thread is done

        worker = threading.Thread(target=slow_consumer)
        worker.start()
        offline.model.wait_for_requests(1)  # the slow turn took its scripted reply first
        answers = [fast_thread.run(f"fast {i}").final_response for i in range(3)]
        events_seen_while_fast_ran = len(consumed)
        release.set()
        worker.join(30)
    assert answers == ["b1", "b2", "b3"]
    assert events_seen_while_fast_ran == 1
    assert consumed[-1] == "turn/completed"


def test_another_actor_runs_a_turn_purely_by_message(offline: OfflineEngine) -> None:
    offline.model.enqueue(message("by message"))

    class Requester(pykka.ThreadingActor):
        def __init__(self, done: pykka.Future[TurnFinished]) -> None:
            super().__init__()
            self.done = done

        def on_receive(self, msg: Any) -> None:
            if isinstance(msg, TurnFinished):
                self.done.set(msg)
            else:  # a thread actor ref, handed over by message
                msg.tell(RunTurn(input="hi", reply_to=self.actor_ref, tag="t1"))

    with Codex(offline.config) as codex:
        thread = codex.thread_start(approval_mode=ApprovalMode.deny_all)
        done: pykka.Future[TurnFinished] = pykka.ThreadingFuture()
        requester = Requester.start(done)
        try:
            requester.tell(thread.actor_ref)
            finished = done.get(timeout=30)
        finally:
            requester.stop()
    assert finished.error is None
    assert finished.tag == "t1"
    assert finished.thread_id == thread.id
    assert finished.result is not None
    assert finished.result.final_response == "by message"


def test_1000_thread_actors_leave_no_os_thread_behind(offline: OfflineEngine) -> None:
    with Codex(offline.config) as codex:
        before = threading.active_count()
        ids = [f"00000000-0000-7000-8000-{index:012d}" for index in range(1000)]
        for thread_id in ids:
            codex.supervisor.ask(StartThread(thread_id))
        assert threading.active_count() >= before + 1000
        for thread_id in ids:
            codex.supervisor.ask(StopThread(thread_id))
        deadline = time.monotonic() + 10
        while threading.active_count() > before + 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert threading.active_count() <= before + 1  # and the runtime's one timer thread, started since


def test_workspace_write_thread(offline: OfflineEngine) -> None:
    offline.model.enqueue(message("done"))
    with Codex(offline.config) as codex:
        thread = codex.thread_start(approval_mode=ApprovalMode.deny_all, sandbox=Sandbox.workspace_write)
        assert thread.run("x").final_response == "done"


def test_a_call_right_after_kill_9_waits_for_the_one_new_engine(
    offline: OfflineEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="codex_actors.engine")
    offline.model.enqueue(message("before"), message("after"), message("third"))
    with Codex(offline.config) as codex:
        thread = codex.thread_start(approval_mode=ApprovalMode.deny_all)
        assert thread.run("one").final_response == "before"
        expected = codex.models()
        kill_and_wait(engine_pid(codex))  # dead; the runtime may not have noticed yet
        assert codex.models() == expected  # held for the new engine, not failed
        assert thread.run("two").final_response == "after"  # the same thread, resumed on it
        kill_and_wait(engine_pid(codex))
        assert thread.run("three").final_response == "third"  # a turn right after a kill waits too
    started = [r for r in caplog.records if r.name == "codex_actors.engine" and " started: " in r.getMessage()]
    assert len(started) == 3  # the first engine, then one per death


def test_a_read_made_the_instant_after_a_kill_9_waits_for_the_next_engine(offline: OfflineEngine) -> None:
    """No wait at all after the signal: the engine is still tearing down, and a thread of it may even read the
    request before it dies. A request that only reads is sent again to the next engine; one the engine never read
    (its bytes still in the pipe) too, whatever it is (tests/faults/test_restarts.py)."""
    with Codex(dataclasses.replace(offline.config, max_restarts=10)) as codex:
        expected = codex.models()
        for index in range(5):
            os.kill(engine_pid(codex), signal.SIGKILL)
            assert codex.models() == expected, index


def test_a_turn_started_the_instant_after_a_kill_9_runs_on_the_next_engine(offline: OfflineEngine) -> None:
    """A turn/start is never sent twice: but the engine it would go to is being killed (a SIGKILL pending, its
    main thread gone), so it is not sent there at all, and waits for the next engine."""
    offline.model.enqueue(*[message("ok") for _ in range(6)])
    with Codex(dataclasses.replace(offline.config, max_restarts=10)) as codex:
        thread = codex.thread_start(approval_mode=ApprovalMode.deny_all)
        assert thread.run("first").final_response == "ok"  # a thread has a rollout to resume from once it ran
        for index in range(5):
            os.kill(engine_pid(codex), signal.SIGKILL)
            assert thread.run("go").final_response == "ok", index
