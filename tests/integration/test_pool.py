"""An engine pool (``Codex(config, engines=N)``) on the REAL engine + scripted model; a fake one for "overloaded".

* Placement: new threads go to the engine with the fewest threads in use, so 400 threads spread evenly over 4
  engines (each engine's own ``thread/loaded/list`` agrees); a thread stays on its engine.
* Isolation: ``kill -9`` of one engine fails only the turns in flight on it; that engine alone restarts and only
  its threads resume on it (``thread.resume`` events name them all, and no other); the other engines keep their
  processes, their generation and their in-flight turns.
* Spill: a start an engine answers "overloaded" goes to the next engine; a resume that another engine of the pool
  holds ("already has an active writer": the engines share one ``CODEX_HOME``) goes to the one that holds it.

Counts, not timings.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import json
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from codex_actors import ApprovalMode, AsyncCodex, Codex, CodexConfig, ServerBusyError, telemetry
from codex_actors._runtime import Runtime
from codex_actors.actors import RunTurn, ThreadRef
from codex_actors.errors import TransportClosedError
from codex_actors.testing import Gate, OfflineEngine, ScriptedModel, message, reply
from codex_actors.testing._home import SHELL_HOME, offline_env
from tests.support.fixtures import fake_engine_config
from tests.support.waiting import wait_until

T = TypeVar("T")
R = TypeVar("R")

ENGINES = 4
THREADS = 400
DRIVERS = 32


@pytest.fixture
def offline() -> Iterator[OfflineEngine]:
    with OfflineEngine(default=message("ok")) as engine:
        yield engine


def runtime_of(codex: Codex) -> Runtime:
    return codex._client.runtime


def pids(runtime: Runtime) -> list[int | None]:
    return [runtime.connection(engine=index).status().pid for index in range(runtime.engines)]


def loaded(runtime: Runtime, engine: int) -> set[str]:
    """The threads engine ``engine`` itself says it has loaded (``thread/loaded/list``, every page)."""
    found: set[str] = set()
    cursor = None
    while True:
        params: dict[str, str] = {"cursor": cursor} if cursor else {}
        page = json.loads(
            bytes(runtime.connection(engine=engine).request("thread/loaded/list", params, timeout=30))
        )
        found.update(page["data"])
        cursor = page.get("nextCursor")
        if not cursor:
            return found


def in_parallel(items: list[T], work: Callable[[T], R]) -> list[R]:
    with concurrent.futures.ThreadPoolExecutor(DRIVERS) as pool:
        return list(pool.map(work, items))


@pytest.mark.timeout(600)
def test_400_threads_spread_over_4_engines_and_a_kill_touches_only_its_own(offline: OfflineEngine) -> None:
    resumed: list[str] = []
    lock = threading.Lock()

    def on_resume(_name: str, _measurements: dict[str, float], metadata: dict[str, Any]) -> None:
        with lock:
            resumed.append(metadata["thread_id"])

    telemetry.attach("test-pool-resumes", ["thread.resume"], on_resume)
    try:
        with Codex(offline.config, engines=ENGINES) as codex:
            runtime = runtime_of(codex)
            directory = runtime.directory
            threads = in_parallel(
                list(range(THREADS)), lambda _: codex.thread_start(approval_mode=ApprovalMode.deny_all)
            )
            assert {answer for answer in in_parallel(threads, lambda t: t.run("one").final_response)} == {"ok"}

            placed: dict[int, set[str]] = {index: set() for index in range(ENGINES)}
            for thread in threads:
                engine = directory.engine_of(thread.id)
                assert engine is not None
                placed[engine].add(thread.id)
            share = THREADS / ENGINES
            for index in range(ENGINES):
                assert share * 0.9 <= len(placed[index]) <= share * 1.1, {i: len(p) for i, p in placed.items()}
                assert loaded(runtime, index) == placed[index]  # the engine itself agrees
            assert directory.loads() == [len(placed[index]) for index in range(ENGINES)]

            # Two turns in flight on every engine, each held by the scripted model at a gate.
            by_engine = {index: sorted(placed[index])[:2] for index in range(ENGINES)}
            by_id = {thread.id: thread for thread in threads}
            gates = [Gate(timeout=60) for _ in range(2 * ENGINES)]
            offline.model.enqueue(*(reply(gate, message("late")) for gate in gates))
            handles = {thread_id: by_id[thread_id].turn("held") for ids in by_engine.values() for thread_id in ids}
            for gate in gates:
                assert gate.reached.wait(60), "every held turn reached the model"

            victim = 2
            before = pids(runtime)
            victim_pid = before[victim]
            assert victim_pid is not None
            os.kill(victim_pid, signal.SIGKILL)
            wait_until(lambda: pids(runtime)[victim] not in (None, victim_pid), "engine 2 restarted", 60)
            for gate in gates:
                gate.open()

            for thread_id, handle in handles.items():
                if thread_id in placed[victim]:
                    with pytest.raises(TransportClosedError):
                        handle.run()
                else:
                    assert handle.run().final_response == "late"  # the other engines never noticed

            after = pids(runtime)
            assert [pid for index, pid in enumerate(after) if index != victim] == [
                pid for index, pid in enumerate(before) if index != victim
            ]
            assert directory.generations == [1 if index == victim else 0 for index in range(ENGINES)]

            # The next turn of every thread works; the victim's threads are resumed on their own (new) engine.
            assert {answer for answer in in_parallel(threads, lambda t: t.run("two").final_response)} == {"ok"}
            for index in range(ENGINES):
                assert directory.engine_of(threads[0].id) is not None
                assert loaded(runtime, index) == placed[index]
            wait_until(lambda: len(resumed) >= len(placed[victim]), "every resume reported", 30)
            with lock:
                assert sorted(resumed) == sorted(placed[victim])  # its threads, each once, and no other
    finally:
        telemetry.detach("test-pool-resumes")


def test_a_start_the_first_engine_answers_overloaded_goes_to_the_next(tmp_path: Path) -> None:
    config = fake_engine_config(FAKE_ENGINE_OVERLOAD_STARTS=str(tmp_path / "first"))
    with Codex(config, engines=2) as codex:
        directory = runtime_of(codex).directory
        threads = [codex.thread_start() for _ in range(3)]
        assert [directory.engine_of(thread.id) for thread in threads] == [1, 1, 1]
        assert directory.loads() == [0, 3]


def test_without_a_pool_an_overloaded_start_is_raised(tmp_path: Path) -> None:
    config = fake_engine_config(FAKE_ENGINE_OVERLOAD_STARTS=str(tmp_path / "first"))
    with Codex(config) as codex, pytest.raises(ServerBusyError):
        codex.thread_start()


def forgotten_thread(codex: Codex) -> tuple[str, int, list[ThreadRef]]:
    """A thread with one turn, loaded on its engine, that the pool no longer knows the place of.

    Nothing refers to it, and (as after PLACEMENTS_KEPT other threads) its placement is no longer remembered;
    two other threads on its engine make the other engine the less loaded one, tried first. Returns its id, its
    engine, and the addresses that keep those two in use.
    """
    runtime = runtime_of(codex)
    directory = runtime.directory
    thread = codex.thread_start()
    assert thread.run("one").final_response == "ok"
    thread_id, holder = thread.id, directory.engine_of(thread.id)
    assert holder is not None
    del thread
    wait_until(lambda: gc.collect() >= 0 and directory.find(thread_id) is None, "the thread forgotten", 30)
    directory._remembered.clear()
    assert directory.engine_of(thread_id) is None
    busy = [runtime.opened(f"busy-{index}", directory.generations[holder], holder) for index in range(2)]
    assert directory.loads()[holder] == len(busy)
    return thread_id, holder, busy


def test_a_resume_of_a_thread_another_engine_holds_goes_to_that_engine(offline: OfflineEngine) -> None:
    with Codex(offline.config, engines=2) as codex:
        thread_id, holder, _busy = forgotten_thread(codex)
        resumed = codex.thread_resume(thread_id)
        assert runtime_of(codex).directory.engine_of(thread_id) == holder
        assert resumed.run("two").final_response == "ok"
        assert len(resumed.read(include_turns=True).thread.turns) == 2


def test_a_thread_used_by_its_address_alone_finds_the_engine_that_holds_it(offline: OfflineEngine) -> None:
    with Codex(offline.config, engines=2) as codex:
        thread_id, holder, _busy = forgotten_thread(codex)
        finished = codex.thread_ref(thread_id).ask(RunTurn(input="two"), timeout=60)
        assert finished.error is None
        assert finished.result.final_response == "ok"
        assert runtime_of(codex).directory.engine_of(thread_id) == holder


def test_an_async_pool_places_threads_and_runs_turns(offline: OfflineEngine) -> None:
    async def scenario() -> None:
        async with AsyncCodex(offline.config, engines=2) as codex:
            threads = [await codex.thread_start() for _ in range(4)]
            results = await asyncio.gather(*(thread.run("x") for thread in threads))
            assert {result.final_response for result in results} == {"ok"}
            assert codex._runtime.runtime.directory.loads() == [2, 2]

    asyncio.run(scenario())


def test_an_api_key_reaches_every_engine_at_start_and_at_a_later_login(tmp_path: Path) -> None:
    home = tmp_path / "codex-home"
    (home / SHELL_HOME).mkdir(parents=True)
    offline_settings = {
        "model": "gpt-5.5",
        "analytics": {"enabled": False},
        "features": {"plugins": False, "unbounded_connection_retries": False},
    }
    first, later = "sk-pool-sentinel-1f2e3d", "sk-pool-sentinel-later-9a8b"
    with ScriptedModel(default=message("ok")) as model:
        config = CodexConfig(env=offline_env(home), config=offline_settings, base_url=model.url, api_key=first)
        with Codex(config, engines=2) as codex:
            directory = runtime_of(codex).directory

            def one_turn_per_engine() -> list[str | None]:
                threads = [codex.thread_start(approval_mode=ApprovalMode.deny_all) for _ in range(2)]
                assert sorted(directory.engine_of(thread.id) or 0 for thread in threads) == [0, 1]
                return [thread.run("hi").final_response for thread in threads]

            assert one_turn_per_engine() == ["ok", "ok"]
            codex.login_api_key(later)
            assert one_turn_per_engine() == ["ok", "ok"]
        keys = [request.header("authorization") for request in model.requests if request.method == "POST"]
    assert keys == [f"Bearer {first}"] * 2 + [f"Bearer {later}"] * 2


def test_engines_is_checked() -> None:
    with pytest.raises(ValueError, match="engines"):
        CodexConfig(engines=0)
    with pytest.raises(ValueError, match="engines must be at most"):
        CodexConfig(engines=1000)
