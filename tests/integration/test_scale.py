"""Long-lived workers at scale, on the REAL engine + scripted model (a fake engine only for the overload answer).

* Bounded actors: a thread's actor hibernates when idle (``CodexConfig.thread_idle_timeout_s``), stops when its
  ``Thread`` is garbage-collected or the thread archived, and is revived, transparently, on next use.
* Restarts that scale: after an engine restart only a thread in use is resumed, on its next use; the engine's
  ``-32001`` answer to a resume is retried with backoff.
* Stable addresses: ``thread.actor_ref`` / ``codex.thread_ref(id)`` survive actor crashes, hibernation and engine
  restarts; an unknown message is refused with an error, and the actor lives on.

Counts, not timings: the OS threads of this process, and what the engine received (a :class:`WireTap`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

import pykka
import pytest

from codex_actors import ApprovalMode, AsyncCodex, Codex, CodexConfig, RequestTimeoutError
from codex_actors._runtime import Runtime
from codex_actors._sync_runtime import SyncRuntime
from codex_actors.actors import RunTurn, ThreadRef, TurnFinished
from codex_actors.errors import TransportClosedError, UnknownMessageError
from codex_actors.testing import OfflineEngine, WireTap, message
from tests.support.fixtures import fake_engine_config
from tests.support.waiting import wait_until

#: Idle seconds before a thread actor hibernates, in these tests.
IDLE = 0.3


@pytest.fixture
def offline() -> Iterator[OfflineEngine]:
    with OfflineEngine(default=message("ok")) as engine:
        yield engine


def idle_config(offline: OfflineEngine, idle: float | None = IDLE, **changes: Any) -> CodexConfig:
    return dataclasses.replace(offline.config, thread_idle_timeout_s=idle, **changes)


def engine_pid(codex: Codex) -> int | None:
    try:
        return codex._client.runtime.connection().status().pid
    except TransportClosedError:
        return None


def restart_engine(codex: Codex) -> None:
    """``kill -9`` the engine and wait until the supervisor has a new one up."""
    old = engine_pid(codex)
    assert old is not None
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: engine_pid(codex) not in (None, old), "a restarted engine", 30)


def new_pid(client: SyncRuntime) -> int | None:
    try:
        return client.runtime.connection().status().pid
    except TransportClosedError:
        return None


def running_actors(codex: Codex, thread_ids: list[str]) -> int:
    runtime = codex._client.runtime
    return sum(runtime.has_thread_actor(thread_id) for thread_id in thread_ids)


class Service(pykka.ThreadingActor):
    """A service actor that holds a thread's address and drives turns on it, by message only."""

    def __init__(self, address: ThreadRef) -> None:
        super().__init__()
        self.address = address
        self.finished: list[TurnFinished] = []

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, TurnFinished):
            self.finished.append(message)
        elif message == "results":
            return list(self.finished)
        else:
            self.address.tell(RunTurn(input=str(message), reply_to=self.actor_ref, tag=message))
        return None


def results_of(service: pykka.ActorRef[Service]) -> list[TurnFinished]:
    results: list[TurnFinished] = service.ask("results", block=True, timeout=5)
    return results


def drive(service: pykka.ActorRef[Service], tag: str) -> TurnFinished:
    before = len(results_of(service))
    service.tell(tag)
    wait_until(lambda: len(results_of(service)) > before, f"the turn {tag!r}", 60)
    return results_of(service)[before]


# -- bounded actors ---------------------------------------------------------------------------------------------


@pytest.mark.timeout(300)
def test_1000_threads_idle_past_the_idle_time_give_back_their_os_threads_and_each_runs_its_next_turn(
    offline: OfflineEngine,
) -> None:
    count, width = 1000, 50

    async def scenario() -> None:
        async with AsyncCodex(idle_config(offline)) as codex:
            runtime = codex._runtime.runtime
            before = threading.active_count()
            gate = asyncio.Semaphore(width)

            async def turn(thread: Any, text: str) -> str | None:
                async with gate:
                    answer: str | None = (await thread.run(text)).final_response
                    return answer

            threads = [await codex.thread_start(approval_mode=ApprovalMode.deny_all) for _ in range(count)]
            assert set(await asyncio.gather(*(turn(thread, "one") for thread in threads))) == {"ok"}
            # Within a constant: the runtime's one timer thread, and asyncio's default executor (bounded), which
            # starts the actors of threads not in use yet off the event loop.
            constant = 1 + min(32, (os.cpu_count() or 1) + 4)
            await asyncio.to_thread(
                wait_until,
                lambda: not any(runtime.has_thread_actor(thread.id) for thread in threads),
                "every idle actor hibernated",
                60,
            )
            assert threading.active_count() <= before + constant
            assert len(root_children(codex)) <= 4  # telemetry, tools, approvals, engine: no thread:<id> left
            assert set(await asyncio.gather(*(turn(thread, "two") for thread in threads))) == {"ok"}

    asyncio.run(scenario())


def root_children(codex: AsyncCodex) -> list[str]:
    from codex_actors.actors import WhichChildren

    rows: list[Any] = codex.supervisor.ask(WhichChildren(), block=True, timeout=10)
    return [row.name for row in rows]


def test_a_dropped_thread_lets_its_actor_go_and_an_archived_one_stops_too(offline: OfflineEngine) -> None:
    with Codex(idle_config(offline, idle=None)) as codex:  # never by idle time: only by drop or archive
        runtime = codex._client.runtime
        dropped = codex.thread_start(approval_mode=ApprovalMode.deny_all)
        dropped_id = dropped.id
        dropped.run("one")
        assert runtime.has_thread_actor(dropped_id)
        del dropped
        gc.collect()
        wait_until(lambda: not runtime.has_thread_actor(dropped_id), "the dropped thread's actor stopped")
        assert len(runtime.directory) <= 1  # its entry went with it (nothing refers to it)

        archived = codex.thread_start(approval_mode=ApprovalMode.deny_all)
        archived.run("one")
        codex.thread_archive(archived.id)
        wait_until(lambda: not runtime.has_thread_actor(archived.id), "the archived thread's actor stopped")

        kept = codex.thread_start(approval_mode=ApprovalMode.deny_all)
        kept.run("one")
        assert runtime.has_thread_actor(kept.id)  # in use, no idle time: it runs on
        assert codex.thread_resume(dropped_id).run("again").final_response == "ok"


# -- restarts that scale ---------------------------------------------------------------------------------------


@pytest.mark.timeout(300)
def test_300_live_threads_survive_a_kill_and_the_first_turn_after_it_resumes_only_its_own_thread(
    offline: OfflineEngine,
) -> None:
    count = 300
    with WireTap() as tap:
        config = idle_config(offline, idle=None, codex_bin=tap.codex_bin)
        with Codex(config) as codex:
            threads = [codex.thread_start(approval_mode=ApprovalMode.deny_all) for _ in range(count)]
            for thread in threads:
                thread.run("one")
            restart_engine(codex)
            tap.clear()
            assert threads[0].run("first after").final_response == "ok"
            resumed = [sent["params"]["threadId"] for sent in tap.sent("thread/resume")]
            assert resumed == [threads[0].id]  # not delayed by the other 299: none of them was resumed

            async def everyone() -> list[str | None]:
                def run(thread: Any) -> str | None:
                    return thread.run("next").final_response  # type: ignore[no-any-return]

                return list(await asyncio.gather(*(asyncio.to_thread(run, thread) for thread in threads[1:])))

            assert set(asyncio.run(everyone())) == {"ok"}
            assert sorted(sent["params"]["threadId"] for sent in tap.sent("thread/resume")) == sorted(
                thread.id for thread in threads
            )


def test_a_resume_refused_as_overloaded_is_retried_with_backoff(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="codex_actors.thread")
    client = SyncRuntime(Runtime(fake_engine_config(FAKE_ENGINE_OVERLOAD_RESUMES="3")))
    try:
        thread_id = "thr_busy"
        address = client.runtime.opened(thread_id, client.runtime.directory.generations[0])
        assert client.thread_request(thread_id, "test/echo", {"n": 1}, timeout=10)  # loaded: no resume
        pid = client.runtime.connection().status().pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: new_pid(client) not in (None, pid), "a restarted engine", 30)
        echoed = client.thread_request(thread_id, "test/echo", {"n": 2}, timeout=30)
        assert b'"n":2' in bytes(echoed).replace(b" ", b"")
        retries = [r for r in caplog.records if "resume refused" in r.getMessage()]
        assert [r.attempt for r in retries] == [1, 2, 3]  # type: ignore[attr-defined]
        assert all("overloaded" in r.getMessage() for r in retries)
        assert address.thread_id == thread_id
    finally:
        client.runtime.close()


# -- stable addresses ---------------------------------------------------------------------------------------------


def test_a_service_keeps_driving_turns_through_a_crash_a_hibernation_and_an_engine_restart(
    offline: OfflineEngine,
) -> None:
    with Codex(idle_config(offline)) as codex:
        runtime = codex._client.runtime
        thread = codex.thread_start(approval_mode=ApprovalMode.deny_all)
        address = thread.actor_ref
        assert address == codex.thread_ref(thread.id) and address.thread_id == thread.id
        service = Service.start(address)
        try:
            assert drive(service, "first").error is None

            actor = codex._client.bind_thread(thread.id)  # a bug in the actor: it crashes, and is restarted
            actor.proxy().crash(RuntimeError("test: the thread actor broke")).get(timeout=5)
            assert drive(service, "after a crash").error is None

            wait_until(lambda: not runtime.has_thread_actor(thread.id), "the idle actor hibernated")
            assert drive(service, "after hibernating").error is None

            restart_engine(codex)
            done = drive(service, "after a restart")
            assert done.error is None and done.result is not None and done.result.final_response == "ok"

            with pytest.raises(UnknownMessageError, match=r"does not handle 'hello\?'"):
                address.ask("hello?", timeout=5)
            address.tell(object())  # told: logged and dropped
            asked = address.ask(RunTurn(input="asked"), timeout=60)
            assert isinstance(asked, TurnFinished) and asked.error is None and asked.tag is None
            assert [f.tag for f in results_of(service)] == [
                "first",
                "after a crash",
                "after hibernating",
                "after a restart",
            ]
        finally:
            service.stop()
    with pytest.raises(TransportClosedError):
        address.tell(RunTurn(input="too late"))
    assert not address.is_alive()


def test_a_thread_ref_for_an_id_alone_resumes_a_thread_of_an_earlier_client(offline: OfflineEngine) -> None:
    with Codex(offline.config) as first:
        thread = first.thread_start(approval_mode=ApprovalMode.deny_all)
        thread.run("remember me")
    with Codex(offline.config) as second:
        done = second.thread_ref(thread.id).ask(RunTurn(input="again", approval_mode=ApprovalMode.deny_all))
        assert isinstance(done, TurnFinished) and done.error is None
        assert done.result is not None and done.result.final_response == "ok"


# -- waits you can set --------------------------------------------------------------------------------------------


def test_the_request_timeout_is_set_in_the_config() -> None:
    client = SyncRuntime(Runtime(dataclasses.replace(fake_engine_config(), request_timeout_s=0.2)))
    try:
        with pytest.raises(RequestTimeoutError, match=r"test/hang got no reply within 0\.2 s"):
            client.request("test/hang")
    finally:
        client.runtime.close()


@pytest.mark.parametrize(
    ("field", "value"), [("request_timeout_s", 0), ("request_timeout_s", -1.0), ("thread_idle_timeout_s", -1.0)]
)
def test_a_timeout_that_cannot_be_is_refused(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        changes: dict[str, Any] = {field: value}
        CodexConfig(**changes)
    assert CodexConfig().request_timeout_s == 120.0 and CodexConfig().thread_idle_timeout_s == 60.0
    assert CodexConfig(thread_idle_timeout_s=None).thread_idle_timeout_s is None


# -- logging ------------------------------------------------------------------------------------------------------


def test_the_thread_logger_says_turns_hibernation_and_resumes(
    offline: OfflineEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="codex_actors.thread")
    with Codex(idle_config(offline)) as codex:
        thread = codex.thread_start(approval_mode=ApprovalMode.deny_all)
        turn_id = thread.run("one").id
        wait_until(lambda: not codex._client.runtime.has_thread_actor(thread.id), "the idle actor hibernated")
        restart_engine(codex)
        thread.run("two")
    ours = [record for record in caplog.records if getattr(record, "thread_id", None) == thread.id]
    lines = [record.getMessage() for record in ours]
    assert f"thread {thread.id}: turn {turn_id} started" in lines
    assert f"thread {thread.id}: turn {turn_id} ended: completed" in lines
    assert f"thread {thread.id}: actor hibernates" in lines
    assert f"thread {thread.id} resumed" in lines
    (ended,) = [r for r in ours if r.getMessage().endswith("ended: completed") and r.turn_id == turn_id]  # type: ignore[attr-defined]
    assert ended.outcome == "completed"  # type: ignore[attr-defined]
