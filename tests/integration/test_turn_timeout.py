"""``CodexConfig.turn_timeout_s``: a turn running past it is interrupted and fails with ``TurnTimeoutError``.

On the REAL engine + scripted model: the model holds the turn at a gate, so it outlives a 0.5 s timeout. Every
way of waiting for a turn sees the error (sync and async ``run()``, a handle's ``run()`` and ``stream()``, a
``RunTurn`` message); the wire shows the engine got ``turn/interrupt`` for that turn and completed it
``interrupted``; the thread's next turn is a new one and works. Without the field (the default) a turn is never
timed out.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from codex_actors import ApprovalMode, AsyncCodex, Codex, CodexConfig
from codex_actors._protocol.generated import TurnStatus
from codex_actors.actors import RunTurn, TurnFinished
from codex_actors.errors import TurnTimeoutError
from codex_actors.testing import Gate, OfflineEngine, WireTap, delay, message, reply
from tests.support.waiting import wait_until

TIMEOUT_S = 0.5


@dataclasses.dataclass
class Rig:
    offline: OfflineEngine
    tap: WireTap

    def config(self, turn_timeout_s: float | None = TIMEOUT_S) -> CodexConfig:
        return dataclasses.replace(
            self.offline.config, codex_bin=self.tap.codex_bin, turn_timeout_s=turn_timeout_s
        )

    def held(self) -> Gate:
        """Queue a model reply held at a gate (the turn runs until interrupted), then a plain second answer."""
        gate = Gate(timeout=20)
        self.offline.model.enqueue(reply(message("working..."), gate, message("never sent")), message("next"))
        return gate

    def wait_interrupted(self, thread_id: str, turn_id: str) -> None:
        """The engine got ``turn/interrupt`` for the turn and completed it ``interrupted``."""
        expected = {"threadId": thread_id, "turnId": turn_id}
        wait_until(lambda: expected in [sent["params"] for sent in self.tap.sent("turn/interrupt")], "interrupt")
        wait_until(lambda: self.status(turn_id) is not None, f"turn/completed of {turn_id}")
        assert self.status(turn_id) == "interrupted"

    def status(self, turn_id: str) -> str | None:
        for note in self.tap.received("turn/completed"):
            if note["params"]["turn"]["id"] == turn_id:
                status: str = note["params"]["turn"]["status"]
                return status
        return None


@pytest.fixture
def rig(offline: OfflineEngine) -> Iterator[Rig]:
    with WireTap() as tap:
        yield Rig(offline, tap)


def test_a_turn_past_the_timeout_fails_run_and_is_interrupted_then_the_thread_works(rig: Rig) -> None:
    gate = rig.held()
    try:
        with Codex(rig.config()) as codex:
            thread = codex.thread_start(approval_mode=ApprovalMode.deny_all)
            with pytest.raises(TurnTimeoutError) as info:
                thread.run("go")
            error = info.value
            assert isinstance(error, TimeoutError)
            assert error.timeout == TIMEOUT_S
            assert error.turn_id is not None
            rig.wait_interrupted(thread.id, error.turn_id)
            result = thread.run("again")
            assert result.status == TurnStatus.completed
            assert result.final_response == "next"
            assert result.id != error.turn_id
    finally:
        gate.open()


def test_a_turn_past_the_timeout_fails_a_handles_stream_and_run(rig: Rig) -> None:
    gate = rig.held()
    rig.offline.model.enqueue(reply(message("working..."), gate, message("never sent")), message("last"))
    try:
        with Codex(rig.config()) as codex:
            thread = codex.thread_start(approval_mode=ApprovalMode.deny_all)
            handle = thread.turn("go")
            seen: list[Any] = []
            with pytest.raises(TurnTimeoutError):
                for event in handle.stream():
                    seen.append(event.method)
            assert seen[0] == "turn/started"
            rig.wait_interrupted(thread.id, handle.id)
            assert thread.run("again").final_response == "next"
            handle = thread.turn("go on")
            with pytest.raises(TurnTimeoutError):
                handle.run()
            rig.wait_interrupted(thread.id, handle.id)
            assert thread.run("and again").final_response == "last"
    finally:
        gate.open()


def test_a_turn_past_the_timeout_fails_async_run_stream_and_handle_run(rig: Rig) -> None:
    gate = rig.held()
    for last in ("after the stream", "last"):
        rig.offline.model.enqueue(reply(message("working..."), gate, message("never sent")), message(last))

    async def scenario() -> None:
        async with AsyncCodex(rig.config()) as codex:
            thread = await codex.thread_start(approval_mode=ApprovalMode.deny_all)
            with pytest.raises(TurnTimeoutError):
                await thread.run("go")
            assert (await thread.run("again")).final_response == "next"
            handle = await thread.turn("go on")
            with pytest.raises(TurnTimeoutError):
                async for _ in handle.stream():
                    pass
            await asyncio.to_thread(rig.wait_interrupted, thread.id, handle.id)
            assert (await thread.run("and again")).final_response == "after the stream"
            handle = await thread.turn("go on again")
            with pytest.raises(TurnTimeoutError):
                await handle.run()
            assert (await thread.run("once more")).final_response == "last"

    try:
        asyncio.run(scenario())
    finally:
        gate.open()


def test_a_run_turn_message_past_the_timeout_is_answered_with_the_error(rig: Rig) -> None:
    gate = rig.held()
    try:
        with Codex(rig.config()) as codex:
            thread = codex.thread_start(approval_mode=ApprovalMode.deny_all)
            # Asked through the thread's address, a RunTurn is answered with the TurnFinished its sender is told.
            finished = thread.actor_ref.ask(RunTurn(input="go", approval_mode=ApprovalMode.deny_all), timeout=20)
            assert isinstance(finished, TurnFinished)
            assert isinstance(finished.error, TurnTimeoutError)
            assert finished.turn_id is not None
            rig.wait_interrupted(thread.id, finished.turn_id)
    finally:
        gate.open()


def test_without_a_turn_timeout_a_slow_turn_runs_to_its_end(rig: Rig) -> None:
    rig.offline.model.enqueue(reply(delay(1.0), message("slow but fine")))
    with Codex(rig.config(turn_timeout_s=None)) as codex:
        thread = codex.thread_start(approval_mode=ApprovalMode.deny_all)
        assert thread.run("go").final_response == "slow but fine"
    assert rig.tap.sent("turn/interrupt") == []
