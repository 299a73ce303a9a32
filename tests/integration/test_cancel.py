"""Cancel means stop: a cancelled ``run()`` interrupts its turn in the engine; on the REAL engine + scripted model.

Every test taps the wire (:class:`~codex_actors.testing.WireTap`) to see what the engine received: the
``turn/interrupt`` for the cancelled turn's id, the ``turn/completed`` of that turn with status ``interrupted``,
and a thread's next turn that is a new turn (a new id, its own result) rather than a join of the abandoned one.
The default of a sync or async ``stream()`` closed early is the official one (the turn goes on), and
``interrupt_on_close=True`` interrupts. No wall-clock asserts: waits are bounded, the checks are on the wire.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
from collections.abc import Generator, Iterator
from typing import Any, cast

import pytest

from codex_actors import ApprovalMode, AsyncCodex, Codex, _async_runtime
from codex_actors._async_api import AsyncThread, AsyncTurnHandle
from codex_actors._protocol.generated import TurnStatus
from codex_actors.testing import Gate, OfflineEngine, WireTap, message, reply
from tests.support.waiting import wait_until

# -- helpers ------------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Rig:
    offline: OfflineEngine
    tap: WireTap

    @property
    def config(self) -> Any:
        return dataclasses.replace(self.offline.config, codex_bin=self.tap.codex_bin)

    def turns(self) -> dict[str, list[str]]:
        """The ids of the turns the engine started, by thread (from its ``turn/start`` answers), in one read."""
        starts: dict[Any, str] = {}
        turns: dict[str, list[str]] = {}
        for record in self.tap.lines():
            line = record["line"]
            if record["dir"] == "c2s" and line.get("method") == "turn/start":
                starts[line["id"]] = line["params"]["threadId"]
            elif record["dir"] == "s2c" and "result" in line and line.get("id") in starts:
                turns.setdefault(starts[line["id"]], []).append(line["result"]["turn"]["id"])
        return turns

    def turn_ids(self, thread_id: str) -> list[str]:
        """The ids of the turns the engine started on ``thread_id``."""
        return self.turns().get(thread_id, [])

    def interrupts(self) -> list[dict[str, Any]]:
        """The params of every ``turn/interrupt`` the engine received, once each (a refused one is sent again)."""
        unique: list[dict[str, Any]] = []
        for sent in self.tap.sent("turn/interrupt"):
            if sent["params"] not in unique:
                unique.append(sent["params"])
        return unique

    def completed(self) -> dict[str, str]:
        """The status each ``turn/completed`` so far gave its turn, by turn id."""
        return {
            note["params"]["turn"]["id"]: note["params"]["turn"]["status"]
            for note in self.tap.received("turn/completed")
        }

    def completed_status(self, turn_id: str) -> str | None:
        """The status the engine's ``turn/completed`` gave ``turn_id`` (None before it came)."""
        return self.completed().get(turn_id)

    def wait_interrupted(self, thread_id: str, turn_id: str, timeout: float = 20.0) -> None:
        """Wait until the engine got ``turn/interrupt`` for the turn and completed it ``interrupted``."""
        expected = {"threadId": thread_id, "turnId": turn_id}
        wait_until(lambda: expected in self.interrupts(), f"turn/interrupt of {turn_id}", timeout)
        wait_until(lambda: self.completed_status(turn_id) is not None, f"turn/completed of {turn_id}", timeout)
        assert self.completed_status(turn_id) == "interrupted"


@pytest.fixture
def rig(offline: OfflineEngine) -> Iterator[Rig]:
    with WireTap() as tap:
        yield Rig(offline, tap)


def held(gate: Gate) -> Any:
    """A model reply that starts, then holds at ``gate``: the turn keeps running until it is interrupted."""
    return reply(message("working..."), gate, message("never sent"))


def log_subscribers(handle: Any) -> int:
    subscribers: int = handle._subscription.log.subscribers
    return subscribers


async def reached(gate: Gate) -> None:
    await asyncio.to_thread(gate.wait_reached, 20.0)


# -- AsyncThread.run ----------------------------------------------------------------------------------------------


def test_cancelling_run_mid_turn_interrupts_that_turn_and_the_next_run_is_a_new_turn(rig: Rig) -> None:
    gate = Gate()
    rig.offline.model.enqueue(held(gate), message("the second turn"))

    async def scenario() -> None:
        async with AsyncCodex(rig.config) as codex:
            thread = await codex.thread_start(approval_mode=ApprovalMode.deny_all)
            task = asyncio.create_task(thread.run("go"))
            try:
                await reached(gate)  # the turn is running, held in the model
                (first,) = rig.turn_ids(thread.id)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                result = await thread.run("again")  # at once: a new turn, not a join of the cancelled one
                await asyncio.to_thread(rig.wait_interrupted, thread.id, first)
            finally:
                gate.open()
            assert result.id != first
            assert result.status == TurnStatus.completed
            assert result.final_response == "the second turn"
            assert rig.turn_ids(thread.id) == [first, result.id]
            assert rig.interrupts() == [{"threadId": thread.id, "turnId": first}]

    asyncio.run(scenario())
    rig.offline.model.assert_done()


def test_cancelling_run_before_the_turn_start_answer_still_interrupts_the_turn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Interrupted this early, the turn may end before it asks the model: every model request holds at the gate
    # (opened once the first turn was interrupted) and gets the same answer.
    gate = Gate()
    late: list[str] = []
    abandon = _async_runtime._stop_abandoned

    def record(runtime: Any, thread_id: str, token: Any, answer: asyncio.Future[Any]) -> None:
        late.append(answer.result().turn_id)
        abandon(runtime, thread_id, token, answer)

    monkeypatch.setattr(_async_runtime, "_stop_abandoned", record)

    async def scenario(rig: Rig) -> None:
        async with AsyncCodex(rig.config) as codex:
            thread = await codex.thread_start(approval_mode=ApprovalMode.deny_all)
            await thread.read()  # the thread's actor is up: run() goes straight to turn/start
            task = asyncio.create_task(thread.run("go"))
            try:
                await asyncio.sleep(0)  # the task sent turn/start and awaits its answer: not in yet
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task  # at once: nothing waits for the answer, nor for the interrupt
                # The turn id is known only when the answer comes: the turn is interrupted then, and the next
                # run (started at once) waits for that, so it is a new turn rather than a join of this one.
                again = asyncio.create_task(thread.run("again"))
                first = (await asyncio.to_thread(wait_until, lambda: rig.turn_ids(thread.id), "an answer"))[0]
                await asyncio.to_thread(rig.wait_interrupted, thread.id, first)
                assert late == [first]  # interrupted from the late answer (the run never had a handle)
                gate.open()
                result = await again
            finally:
                gate.open()
            assert result.id != first
            assert result.status == TurnStatus.completed
            assert result.final_response == "the second turn"
            assert rig.turn_ids(thread.id) == [first, result.id]

    with OfflineEngine(default=reply(gate, message("the second turn"))) as offline, WireTap() as tap:
        asyncio.run(scenario(Rig(offline, tap)))


def test_a_cancelled_run_releases_its_cursor(rig: Rig) -> None:
    gate = Gate()
    rig.offline.model.enqueue(held(gate), message("after the join"), message("after the join"))

    async def scenario() -> None:
        async with AsyncCodex(rig.config) as codex:
            thread = await codex.thread_start(approval_mode=ApprovalMode.deny_all)
            handle = await thread.turn("go")
            try:
                await reached(gate)
                watcher = await thread.turn("join")  # joins the running turn: a second cursor on its log
                assert watcher.id == handle.id
                task = asyncio.create_task(handle.run())
                await asyncio.sleep(0)
                assert log_subscribers(handle) == 2
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                assert handle._subscription.closed  # its cursor is gone (the interrupt has its own, for now)
                result = await watcher.run()  # the interrupt reaches every reader of the turn
            finally:
                gate.open()
            assert result.status == TurnStatus.interrupted
            await asyncio.to_thread(rig.wait_interrupted, thread.id, handle.id)
            await asyncio.to_thread(wait_until, lambda: log_subscribers(handle) == 0, "no cursor left")

    asyncio.run(scenario())


# -- AsyncTurnHandle.run, AsyncThread.turn, AsyncTurnHandle.stream ------------------------------------------------


def test_cancelling_a_turn_handles_run_interrupts_its_turn(rig: Rig) -> None:
    gate = Gate()
    rig.offline.model.enqueue(held(gate), message("the second turn"))

    async def scenario() -> None:
        async with AsyncCodex(rig.config) as codex:
            thread = await codex.thread_start(approval_mode=ApprovalMode.deny_all)
            handle = await thread.turn("go")
            try:
                await reached(gate)
                task = asyncio.create_task(handle.run())
                await asyncio.sleep(0)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                result = await thread.run("again")
                await asyncio.to_thread(rig.wait_interrupted, thread.id, handle.id)
            finally:
                gate.open()
            assert result.id != handle.id
            assert result.final_response == "the second turn"

    asyncio.run(scenario())


def test_cancelling_turn_keeps_the_official_behaviour_the_turn_goes_on(rig: Rig) -> None:
    gate = Gate()
    # The joined input makes the engine ask the model again (twice, if the inputs reach it in different rounds).
    rig.offline.model.enqueue(reply(gate, message("first part")), message("finished anyway"), "finished anyway")

    async def scenario() -> None:
        async with AsyncCodex(rig.config) as codex:
            thread = await codex.thread_start(approval_mode=ApprovalMode.deny_all)
            await thread.read()
            task = asyncio.create_task(thread.turn("go"))
            await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await reached(gate)  # the turn started and runs on
            (first,) = rig.turn_ids(thread.id)
            joined = await thread.turn("join")  # the next turn() joins it, as in the official SDK
            assert joined.id == first
            gate.open()
            result = await joined.run()
            assert result.status == TurnStatus.completed
            assert result.final_response == "finished anyway"
            assert rig.interrupts() == []

    asyncio.run(scenario())


@pytest.mark.parametrize("how", ["aclose", "cancel"])
def test_an_async_stream_closed_early_interrupts_only_when_asked(rig: Rig, how: str) -> None:
    gates = [Gate(), Gate()]
    rig.offline.model.enqueue(held(gates[0]), held(gates[1]))

    async def consume(stream: Any, closing: asyncio.Event) -> None:
        async for event in stream:
            if event.method == "item/completed" and event.payload.item.type == "agentMessage":
                closing.set()  # the turn is running: the consumer is about to close
        raise AssertionError("the stream ended before it was closed")  # pragma: no cover

    async def close_early(thread: AsyncThread, gate: Gate, interrupt: bool) -> AsyncTurnHandle:
        handle = await thread.turn("go")
        stream = handle.stream(interrupt_on_close=True) if interrupt else handle.stream()
        await reached(gate)
        if how == "aclose":
            assert (await anext(stream)).method == "turn/started"
            await stream.aclose()
        else:
            closing = asyncio.Event()
            task = asyncio.create_task(consume(stream, closing))
            await closing.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        assert handle._subscription.closed
        return handle

    async def scenario() -> None:
        async with AsyncCodex(rig.config) as codex:
            thread = await codex.thread_start(approval_mode=ApprovalMode.deny_all)
            try:
                kept = await close_early(thread, gates[0], interrupt=False)
                assert rig.interrupts() == []
                assert rig.completed_status(kept.id) is None  # the official behaviour: it runs on
                await kept.interrupt()  # (its handle still controls it)
                await asyncio.to_thread(rig.wait_interrupted, thread.id, kept.id)
                stopped = await close_early(thread, gates[1], interrupt=True)
                await asyncio.to_thread(rig.wait_interrupted, thread.id, stopped.id)
            finally:
                for gate in gates:
                    gate.open()

    asyncio.run(scenario())


# -- sync TurnHandle.stream ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["close", "drop"])
def test_a_sync_stream_closed_early_keeps_the_turn_running_by_default(rig: Rig, how: str) -> None:
    gate = Gate()
    # The joined input makes the engine ask the model again (twice, if the inputs reach it in different rounds).
    rig.offline.model.enqueue(reply(message("working..."), gate, message("first part")), "done", "done")
    with Codex(rig.config) as codex:
        thread = codex.thread_start(approval_mode=ApprovalMode.deny_all)
        handle = thread.turn("go")
        try:
            stream = cast(Generator[Any, None, None], handle.stream())
            assert next(stream).method == "turn/started"
            gate.wait_reached(20)
            if how == "close":
                stream.close()
            else:
                del stream
                gc.collect()
            assert handle._subscription.closed
            assert log_subscribers(handle) == 0
            joined = thread.turn("join")
            assert joined.id == handle.id  # still running: the next turn() joins it, as in the official SDK
        finally:
            gate.open()
        result = joined.run()
    assert result.status == TurnStatus.completed
    assert rig.interrupts() == []


@pytest.mark.parametrize("how", ["close", "drop"])
def test_a_sync_stream_closed_early_with_interrupt_on_close_interrupts_the_turn(rig: Rig, how: str) -> None:
    gate = Gate()
    rig.offline.model.enqueue(held(gate), message("the second turn"))
    with Codex(rig.config) as codex:
        thread = codex.thread_start(approval_mode=ApprovalMode.deny_all)
        handle = thread.turn("go")
        try:
            stream = cast(Generator[Any, None, None], handle.stream(interrupt_on_close=True))
            assert next(stream).method == "turn/started"
            gate.wait_reached(20)
            if how == "close":
                stream.close()
                stream.close()  # idempotent: one interrupt
            else:
                del stream
                gc.collect()
            assert log_subscribers(handle) <= 1  # the interrupt's own cursor, until the engine takes it
            result = thread.run("again")  # at once: a new turn
            rig.wait_interrupted(thread.id, handle.id)
            assert log_subscribers(handle) == 0
        finally:
            gate.open()
    assert result.id != handle.id
    assert result.final_response == "the second turn"
    assert rig.interrupts() == [{"threadId": thread.id, "turnId": handle.id}]


def test_a_sync_stream_read_to_the_end_does_not_interrupt_on_close(rig: Rig) -> None:
    rig.offline.model.enqueue(message("done"), message("checked"))
    with Codex(rig.config) as codex:
        thread = codex.thread_start(approval_mode=ApprovalMode.deny_all)
        stream = cast(Generator[Any, None, None], thread.turn("go").stream(interrupt_on_close=True))
        events = []
        for event in stream:
            events.append(event)
            if event.method == "turn/completed":
                break  # stopped on the last event: the turn has ended, nothing to interrupt
        stream.close()
        assert events[-1].method == "turn/completed"
        assert thread.run("check").final_response == "checked"
    assert rig.interrupts() == []


# -- many threads -------------------------------------------------------------------------------------------------


def test_fifty_concurrent_runs_cancelled_each_interrupt_their_own_turn(no_leaks: None) -> None:
    count = 50
    gate = Gate(timeout=60)
    # Every model request holds at the gate until every run was cancelled and every interrupt seen; then the
    # gate opens and each thread's next run gets the same answer through it.
    offline = OfflineEngine(default=reply(gate, message("the second turn")))

    async def scenario(rig: Rig) -> None:
        async with AsyncCodex(rig.config) as codex:
            threads = await asyncio.gather(
                *(codex.thread_start(approval_mode=ApprovalMode.deny_all) for _ in range(count))
            )
            # Each thread's actor starts on first use (in a worker thread): read each once, so that below each
            # task sends its turn/start in its first step.
            await asyncio.gather(*(thread.read() for thread in threads))
            tasks = [asyncio.create_task(thread.run(f"go {i}")) for i, thread in enumerate(threads)]
            await asyncio.sleep(0)  # every task sent its turn/start
            try:
                for task in tasks[: count // 2]:  # half of them before their turn/start is answered
                    task.cancel()
                started = await asyncio.to_thread(
                    wait_until, lambda: len(rig.tap.received("turn/started")) >= count, "every turn started", 60
                )
                assert started
                for task in tasks[count // 2 :]:  # the other half while their turn runs
                    task.cancel()
                outcomes = await asyncio.gather(*tasks, return_exceptions=True)
                assert all(isinstance(outcome, asyncio.CancelledError) for outcome in outcomes)
                await asyncio.to_thread(
                    wait_until,
                    lambda: len(rig.interrupts()) >= count and len(rig.tap.received("turn/completed")) >= count,
                    "every turn interrupted",
                    60,
                )
                turns, completed = rig.turns(), rig.completed()
                firsts = {}
                for thread in threads:
                    (first,) = turns[thread.id]
                    firsts[thread.id] = first
                    assert completed[first] == "interrupted"
                assert sorted(map(str, rig.interrupts())) == sorted(
                    str({"threadId": thread_id, "turnId": turn_id}) for thread_id, turn_id in firsts.items()
                )
                gate.open()
                results = await asyncio.gather(*(thread.run("again") for thread in threads))
            finally:
                gate.open()
            turns = rig.turns()
            for thread, result in zip(threads, results, strict=True):
                assert result.id != firsts[thread.id]
                assert result.final_response == "the second turn"
                assert turns[thread.id] == [firsts[thread.id], result.id]

    with offline, WireTap() as tap:
        asyncio.run(scenario(Rig(offline, tap)))
