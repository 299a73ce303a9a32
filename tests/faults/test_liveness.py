"""Liveness: a hung engine is found out by the heartbeat, killed and restarted like a crashed one.

The REAL engine + scripted model for what it can show: stopped with SIGSTOP mid-turn (``run()``, ``stream()``,
``AsyncThread.run()`` fail with :class:`~codex_actors.errors.EngineHungError` within a bound instead of
hanging; the engine is restarted and the same thread's next turn works), and a turn whose model is quiet for
many heartbeat intervals (not killed). The fake engine for a plain request to an engine that stops reading and
writing altogether (``test/freeze``), and for a request a live engine never answers (``test/hang``: a request
timeout, not a hang). The only clock asserts are the bounds that express the promise ("fails within 15 s").
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import logging
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from codex_actors import ApprovalMode, AsyncCodex, Codex
from codex_actors._config import CodexConfig
from codex_actors._protocol.generated import TurnStatus
from codex_actors._runtime import Runtime
from codex_actors._sync_runtime import SyncRuntime
from codex_actors.actors._liveness import HEARTBEAT_METHOD
from codex_actors.errors import EngineHungError, RequestTimeoutError, TransportClosedError
from codex_actors.testing import Gate, OfflineEngine, delay, message, reply
from tests.support.fixtures import fake_engine_config
from tests.support.waiting import wait_until

#: Small heartbeat values: a hung engine is found out within about 1.3 s.
FAST = {"heartbeat_interval_s": 0.3, "heartbeat_timeout_s": 1.0}
#: The promise: a hung engine fails what waits on it within this, instead of never.
BOUND_S = 15.0


def fast(config: CodexConfig) -> CodexConfig:
    return dataclasses.replace(config, **FAST)  # type: ignore[arg-type]


def engine_pid(codex: Codex) -> int:
    pid = codex._client.runtime.connection().status().pid
    assert pid is not None
    return pid


@contextlib.contextmanager
def stopped(pid: int) -> Iterator[None]:
    """SIGSTOP ``pid``; whatever happens, SIGCONT and SIGKILL it at the end (no process left behind)."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for sig in (signal.SIGCONT, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)


def assert_gone(pid: int) -> None:
    """``pid`` was killed and reaped (no zombie, no stopped process)."""
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def held(gate: Gate) -> Any:
    """A model reply that starts, then holds at ``gate``: the turn is in flight until the gate opens."""
    return reply(message("working..."), gate, message("never sent: the engine is stopped"))


# -- the real engine, stopped mid-turn ----------------------------------------------------------------------------


def test_an_engine_stopped_mid_turn_fails_run_with_engine_hung_then_the_thread_works(
    offline: OfflineEngine,
) -> None:
    gate = Gate(timeout=30)
    offline.model.enqueue(held(gate), message("after the restart"))
    with Codex(fast(offline.config)) as codex, concurrent.futures.ThreadPoolExecutor(1) as pool:
        thread = codex.thread_start(approval_mode=ApprovalMode.deny_all)
        running = pool.submit(thread.run, "go")
        gate.wait_reached(20)  # the turn is in flight, the model holding it
        pid = engine_pid(codex)
        try:
            with stopped(pid):
                started = time.monotonic()
                with pytest.raises(EngineHungError) as info:
                    running.result(timeout=BOUND_S)
                took = time.monotonic() - started
        finally:
            gate.open()
        assert took < BOUND_S
        assert "did not answer within 1 s" in str(info.value)
        assert info.value.stderr_tail is not None
        assert_gone(pid)
        result = thread.run("again")  # a new engine; the thread is resumed on it
        assert result.status == TurnStatus.completed
        assert result.final_response == "after the restart"
        assert engine_pid(codex) != pid


def test_an_engine_stopped_mid_turn_fails_stream_with_engine_hung(offline: OfflineEngine) -> None:
    gate = Gate(timeout=30)
    offline.model.enqueue(held(gate), message("after the restart"))
    with Codex(fast(offline.config)) as codex:
        thread = codex.thread_start(approval_mode=ApprovalMode.deny_all)
        handle = thread.turn("go")
        events = handle.stream()
        gate.wait_reached(20)
        pid = engine_pid(codex)
        try:
            with stopped(pid):
                started = time.monotonic()
                with pytest.raises(EngineHungError):
                    for _ in events:
                        pass
                assert time.monotonic() - started < BOUND_S
        finally:
            gate.open()
        assert_gone(pid)
        assert thread.run("again").final_response == "after the restart"


def test_an_engine_stopped_mid_turn_fails_async_run_with_engine_hung(offline: OfflineEngine) -> None:
    gate = Gate(timeout=30)
    offline.model.enqueue(held(gate), message("after the restart"))

    async def scenario() -> None:
        async with AsyncCodex(fast(offline.config)) as codex:
            thread = await codex.thread_start(approval_mode=ApprovalMode.deny_all)
            task = asyncio.create_task(thread.run("go"))
            await asyncio.to_thread(gate.wait_reached, 20)
            pid = codex._runtime.runtime.connection().status().pid
            assert pid is not None
            try:
                with stopped(pid), pytest.raises(EngineHungError):
                    await asyncio.wait_for(task, BOUND_S)
            finally:
                gate.open()
            assert_gone(pid)
            assert (await thread.run("again")).final_response == "after the restart"

    asyncio.run(scenario())


def test_a_turn_whose_model_is_quiet_for_many_heartbeats_is_not_taken_for_hung(
    offline: OfflineEngine, debug: pytest.LogCaptureFixture
) -> None:
    # The engine says nothing while the model thinks (3 s: ten heartbeat intervals, three heartbeat timeouts).
    offline.model.enqueue(reply(delay(3.0), message("worth the wait")))
    with Codex(fast(offline.config)) as codex:
        pid = engine_pid(codex)
        thread = codex.thread_start(approval_mode=ApprovalMode.deny_all)
        result = thread.run("think hard")
        assert result.final_response == "worth the wait"
        assert engine_pid(codex) == pid  # the same engine: never killed
    heartbeats = [r for r in debug.records if r.name == "codex_actors.engine" and "heartbeat" in r.getMessage()]
    assert len(heartbeats) >= 3  # it was asked, and answered, several times
    assert not [r for r in debug.records if r.levelno >= logging.WARNING and r.name.startswith("codex_actors")]
    requests = [r.getMessage() for r in debug.records if r.name == "codex_actors.requests"]
    assert requests and not [line for line in requests if HEARTBEAT_METHOD in line]  # not in the request log


# -- the fake engine: a plain request -----------------------------------------------------------------------------


def restarted_pid(client: SyncRuntime) -> int | None:
    try:
        return client.runtime.connection().status().pid
    except TransportClosedError:
        return None


@pytest.fixture
def frozen_client() -> Iterator[SyncRuntime]:
    client = SyncRuntime(Runtime(dataclasses.replace(fake_engine_config(), **FAST)))  # type: ignore[arg-type]
    try:
        yield client
    finally:
        client.runtime.close()


def test_a_request_to_an_engine_that_stops_reading_and_writing_fails_with_engine_hung(
    no_leaks: None, frozen_client: SyncRuntime
) -> None:
    client = frozen_client
    pid = client.runtime.connection().status().pid
    assert pid is not None
    started = time.monotonic()
    with pytest.raises(EngineHungError, match="did not answer within 1 s"):
        client.request("test/freeze", {}, timeout=60)  # far beyond the heartbeat's bound
    assert time.monotonic() - started < BOUND_S
    assert_gone(pid)
    wait_until(lambda: restarted_pid(client) not in (None, pid), "a restarted engine")
    assert client.request("test/echo", {"x": 1}, timeout=5) is not None


def test_a_request_a_live_engine_never_answers_times_out_without_killing_it(frozen_client: SyncRuntime) -> None:
    client = frozen_client
    pid = client.runtime.connection().status().pid
    with pytest.raises(RequestTimeoutError):
        client.request("test/hang", {}, timeout=2.5)  # the engine answers the heartbeats meanwhile
    assert client.runtime.connection().status().pid == pid
    assert client.request("test/echo", {"x": 1}, timeout=5) is not None
