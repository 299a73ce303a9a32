"""Engine restarts under faults, on the fake engine: hanging and failing handshakes, calls made during a restart,
close during one, and the restart limits of ``CodexConfig``.

The fake engine writes its pid to a file per spawn (``FAKE_ENGINE_PIDS``), so every test can count the engines
a death cost; ``FAKE_ENGINE_LATER_INIT`` makes every engine but the first hang (or die) at ``initialize``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from codex_actors import AsyncCodex, Codex, EngineCrashed, TransportClosedError
from codex_actors._config import CodexConfig
from codex_actors._runtime import Runtime
from codex_actors._sync_runtime import SyncRuntime
from codex_actors.errors import RequestTimeoutError
from tests.support.fixtures import fake_engine_config
from tests.support.waiting import kill_and_wait, wait_until

THREAD = "thr_1"


class Engines:
    """Where the fake engines of one test write their pids; the config that launches them."""

    def __init__(self, tmp_path: Path) -> None:
        self.pids = tmp_path / "pids"
        self.marker = tmp_path / "first-started"

    def config(self, *, later_init: str | None = None, **fields: Any) -> CodexConfig:
        env = {"FAKE_ENGINE_PIDS": str(self.pids), "FAKE_ENGINE_MARKER": str(self.marker)}
        env |= {"FAKE_ENGINE_ERRORS": "[]"}  # model/list answers {"data": []}
        if later_init is not None:
            env["FAKE_ENGINE_LATER_INIT"] = later_init
        return dataclasses.replace(fake_engine_config(**env), **fields)

    def spawned(self) -> list[int]:
        """The pid of every engine started so far, in order."""
        if not self.pids.exists():
            return []
        return [int(line) for line in self.pids.read_text().split()]


@pytest.fixture
def engines(tmp_path: Path) -> Engines:
    return Engines(tmp_path)


@pytest.fixture
def hanging(engines: Engines) -> Iterator[SyncRuntime]:
    """A runtime whose restarted engines never answer ``initialize`` (bound 0.3 s, 2 restarts in 5 s)."""
    client = SyncRuntime(Runtime(engines.config(later_init="hang", handshake_timeout_s=0.3, max_restarts=2)))
    try:
        yield client
    finally:
        client.runtime.close()


def kill_engine(client: SyncRuntime) -> int:
    """SIGKILL the current engine and wait until it is dead (the runtime may not have noticed yet)."""
    pid = client.runtime.connection().status().pid
    assert pid is not None
    kill_and_wait(pid)
    return pid


def crashed(client: SyncRuntime) -> EngineCrashed | None:
    """The runtime's EngineCrashed once its supervisor gave up, else None."""
    try:
        client.request("test/echo", {}, timeout=0.05)
    except EngineCrashed as exc:
        return exc
    except (TransportClosedError, RequestTimeoutError):
        return None
    return None


# -- handshakes of restarted engines --------------------------------------------------------------------------


def test_a_restart_whose_handshake_hangs_escalates_naming_the_handshake_timeout(
    hanging: SyncRuntime, engines: Engines
) -> None:
    kill_engine(hanging)
    started = time.monotonic()
    error = wait_until(lambda: crashed(hanging), "EngineCrashed after hanging handshakes", 10)
    # The promise: each attempt is bounded by handshake_timeout_s (2 attempts of 0.3 s), not by 60 s (a bound
    # half of that, so that a loaded machine cannot fail it: it tells the two apart, it does not time anything).
    assert time.monotonic() - started < 30.0
    message = str(error)
    assert "normal exit" not in message
    assert "initialize" in message and "0.3 s" in message
    assert "needed 3 restarts" in message
    assert len(engines.spawned()) == 1 + 2  # the first engine, then one per allowed attempt


def test_failed_attempts_in_a_row_escalate_even_when_each_outlasts_the_window(engines: Engines) -> None:
    config = engines.config(later_init="hang", handshake_timeout_s=0.3, max_restarts=2, restart_window_s=0.1)
    client = SyncRuntime(Runtime(config))
    try:
        kill_engine(client)
        error = wait_until(lambda: crashed(client), "EngineCrashed although every attempt outlasts the window")
        assert "initialize" in str(error)
        assert len(engines.spawned()) == 3
    finally:
        client.runtime.close()


def test_a_restarted_engine_that_dies_at_the_handshake_is_named_with_its_exit_code(engines: Engines) -> None:
    client = SyncRuntime(Runtime(engines.config(later_init="die", max_restarts=2)))
    try:
        kill_engine(client)
        error = wait_until(lambda: crashed(client), "EngineCrashed after engines dying at the handshake")
        assert error is not None
        assert error.exit_code == 7
        assert "refusing to start" in (error.stderr_tail or "")
        assert "normal exit" not in str(error)
        assert len(engines.spawned()) == 3
    finally:
        client.runtime.close()


# -- one death, one engine; calls made during a restart wait for it -----------------------------------------


def test_a_call_made_right_after_a_kill_waits_for_the_one_new_engine(engines: Engines) -> None:
    client = SyncRuntime(Runtime(engines.config()))
    try:
        client.bind_thread(THREAD)
        old = kill_engine(client)
        assert msgspec.json.decode(client.request("test/echo", {"n": 1}, timeout=5)) == {"n": 1}
        echoed = msgspec.json.decode(client.thread_request(THREAD, "test/echo", {"n": 2}, timeout=5))
        assert echoed == {"threadId": THREAD, "n": 2}
        second = kill_engine(client)
        echoed = msgspec.json.decode(client.thread_request(THREAD, "test/echo", {"n": 3}, timeout=5))
        assert echoed == {"threadId": THREAD, "n": 3}
        assert msgspec.json.decode(client.request("test/echo", {"n": 4}, timeout=5)) == {"n": 4}
        spawned = engines.spawned()
        assert spawned[:2] == [old, second]
        assert len(spawned) == 3  # one new engine per death
    finally:
        client.runtime.close()
    assert len(engines.spawned()) == 3


def test_models_right_after_a_kill_waits_for_the_new_engine_sync_and_async(engines: Engines) -> None:
    with Codex(config=engines.config()) as codex:
        kill_engine(codex._client)
        assert codex.models().data == []
    assert len(engines.spawned()) == 2

    async def main() -> None:
        async with AsyncCodex(config=engines.config()) as codex:
            await codex.models()
            client = SyncRuntime(codex._runtime.runtime)
            await asyncio.to_thread(kill_engine, client)
            assert (await codex.models()).data == []

    asyncio.run(main())
    assert len(engines.spawned()) == 4


def test_a_call_during_a_hanging_restart_waits_within_its_timeout_then_fails_at_once(
    engines: Engines,
) -> None:
    client = SyncRuntime(Runtime(engines.config(later_init="hang", handshake_timeout_s=1.0, max_restarts=1)))
    try:
        kill_engine(client)
        with pytest.raises(RequestTimeoutError):
            client.request("test/echo", {}, timeout=0.2)  # held for the new engine, bounded by its timeout
        with pytest.raises(RequestTimeoutError):
            client.thread_request(THREAD, "test/echo", {}, timeout=0.2)
        wait_until(lambda: crashed(client), "EngineCrashed")
        started = time.monotonic()
        with pytest.raises(EngineCrashed):
            client.request("test/echo", {}, timeout=60)
        with pytest.raises(EngineCrashed):
            client.thread_request(THREAD, "test/echo", {}, timeout=60)
        assert time.monotonic() - started < 60  # at once, not after either timeout
    finally:
        client.runtime.close()


def test_calls_held_for_a_restart_that_gives_up_fail_with_engine_crashed(engines: Engines) -> None:
    client = SyncRuntime(Runtime(engines.config(later_init="hang", handshake_timeout_s=0.3, max_restarts=1)))
    try:
        kill_engine(client)
        with pytest.raises(EngineCrashed):
            client.request("test/echo", {}, timeout=10)  # held, then failed when the supervisor gives up
    finally:
        client.runtime.close()


# -- close during a restart -----------------------------------------------------------------------------------


def test_close_during_a_hanging_handshake_returns_promptly_and_leaves_nothing(
    engines: Engines, no_leaks: None
) -> None:
    client = SyncRuntime(Runtime(engines.config(later_init="hang")))  # the default 10 s handshake bound
    kill_engine(client)
    wait_until(lambda: len(engines.spawned()) == 2, "the restarted engine spawned")
    time.sleep(0.2)  # it is in its handshake now, which never ends
    started = time.monotonic()
    client.runtime.close()
    assert time.monotonic() - started < 5.0
    with pytest.raises(TransportClosedError):
        client.request("test/echo", {}, timeout=1)


# -- the restart limits of CodexConfig ------------------------------------------------------------------------


def test_max_restarts_of_codex_config_takes_effect(engines: Engines) -> None:
    with Codex(config=engines.config(max_restarts=1)) as codex:
        client = codex._client
        kill_engine(client)
        assert codex.models().data == []  # restarted once
        kill_engine(client)
        error = wait_until(lambda: crashed(client), "EngineCrashed at the second death")
        assert "max_restarts=1" in str(error)
        with pytest.raises(EngineCrashed):
            codex.models()
    assert len(engines.spawned()) == 2


def test_restart_window_of_codex_config_is_honoured(engines: Engines) -> None:
    with Codex(config=engines.config(max_restarts=1, restart_window_s=0.3)) as codex:
        client = codex._client
        for _ in range(3):  # each death is outside the window of the one before it
            kill_engine(client)
            assert codex.models().data == []
            time.sleep(0.4)
    assert len(engines.spawned()) == 4


def test_a_request_the_dying_engine_never_read_is_sent_to_the_next_one(engines: Engines) -> None:
    """Written into the pipe of an engine that dies before reading it (a kill -9's teardown; here a stopped one),
    a request is not lost: the bytes still in the pipe prove the engine never read it, so it waits for the next."""
    client = SyncRuntime(Runtime(engines.config()))
    try:
        pid = client.runtime.connection().status().pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)  # it reads nothing from now on
        answers: list[Any] = []
        asker = threading.Thread(target=lambda: answers.append(client.request("test/echo", {"n": 1}, timeout=10)))
        asker.start()
        wait_until(lambda: unread_input(client) > 0, "the request written into the stopped engine's pipe")
        os.kill(pid, signal.SIGKILL)
        asker.join(15)
        assert answers and msgspec.json.decode(answers[0]) == {"n": 1}
        assert len(engines.spawned()) == 2
    finally:
        client.runtime.close()


def unread_input(client: SyncRuntime) -> int:
    port = client.runtime.connection().ref._actor_weakref()
    process = None if port is None else port._process
    return 0 if process is None else process.unread_input()
