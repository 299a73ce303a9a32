"""The runtime (root supervisor, service actors, thread actors) under faults the real engine cannot show.

Everything here runs on tests/support/fakes/fake_engine.py. It knows no thread methods: ``thread/resume`` (what a
thread actor sends once a new engine is up) is answered with -32600, and ``turn/start`` too.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pykka
import pytest

from codex_actors import Codex, EngineCrashed, TransportClosedError
from codex_actors._config import CodexConfig
from codex_actors._protocol.generated import TurnCompletedNotification, TurnStatus
from codex_actors._runtime import Runtime
from codex_actors._sync_api import TurnHandle
from codex_actors._sync_runtime import SyncRuntime
from codex_actors.actors import GetCounts
from codex_actors.actors._coalesce import DELTAS
from codex_actors.actors._messages import EngineDown, EngineUp, RunTurn, ThreadRequest, TurnFinished
from codex_actors.actors._port import EnginePort
from codex_actors.actors._root import RootSupervisor
from codex_actors.actors._supervisor import GetChild, WhichChildren
from codex_actors.actors._thread import MAX_HELD_REQUESTS
from codex_actors.errors import InvalidRequestError, RequestTimeoutError
from tests.support.fixtures import FAKE_ENGINE, fake_engine_config
from tests.support.waiting import ask, wait_until

THREAD = "thr_1"
TURN = "turn_1"


# -- helpers ------------------------------------------------------------------------------------------------------


@pytest.fixture
def runtime() -> Iterator[SyncRuntime]:
    client = SyncRuntime(Runtime(fake_engine_config()))
    try:
        yield client
    finally:
        client.runtime.close()


def decoded(raw: Any) -> Any:
    return msgspec.json.decode(raw)


def server_request(client: SyncRuntime, method: str) -> Any:
    """Make the fake engine send a server request; the answer is what the runtime wrote back."""
    return decoded(client.request("test/server-request", {"method": method}, timeout=5))["answer"]


def counts(client: SyncRuntime) -> dict[str, int]:
    telemetry = ask(client.runtime.supervisor, GetChild("telemetry"))
    assert telemetry is not None
    result: dict[str, int] = ask(telemetry, GetCounts())
    return result


def engine_pid(client: SyncRuntime) -> int | None:
    try:
        return client.runtime.connection().status().pid
    except TransportClosedError:
        return None


class Waiter(pykka.ThreadingActor):
    def __init__(self, done: pykka.Future[Any]) -> None:
        super().__init__()
        self.done = done

    def on_receive(self, msg: Any) -> None:
        self.done.set(msg)


# -- starting -----------------------------------------------------------------------------------------------------


def test_an_engine_without_metadata_is_refused_and_leaves_nothing(no_leaks: None) -> None:
    with pytest.raises(RuntimeError, match="initialize response missing required metadata"):
        Codex(fake_engine_config(FAKE_ENGINE_INIT="empty"))


def test_a_missing_binary_raises_file_not_found_and_leaves_nothing(no_leaks: None) -> None:
    with pytest.raises(FileNotFoundError, match="/nonexistent"):
        Codex(CodexConfig(codex_bin="/nonexistent"))


def test_an_engine_that_dies_at_the_handshake_is_a_typed_error(no_leaks: None) -> None:
    with pytest.raises(TransportClosedError) as info:
        Codex(fake_engine_config(FAKE_ENGINE_INIT="die"))
    assert info.value.exit_code == 7
    assert "refusing to start" in (info.value.stderr_tail or "")


# -- the service actors -------------------------------------------------------------------------------------------


def test_the_broker_and_the_registry_answer_every_server_request(runtime: SyncRuntime) -> None:
    # The fake engine sends no params: a malformed approval is declined (fail closed), never accepted blindly.
    for method in ("item/commandExecution/requestApproval", "item/fileChange/requestApproval"):
        assert server_request(runtime, method)["result"] == {"decision": "decline"}
    assert server_request(runtime, "item/tool/requestUserInput")["result"] == {"answers": {}}
    refused = server_request(runtime, "account/chatgptAuthTokens/refresh")
    assert refused["error"]["code"] < 0
    assert "account/chatgptAuthTokens/refresh" in refused["error"]["message"]
    tool = server_request(runtime, "item/tool/call")  # no params: the call cannot be read
    assert tool["result"]["success"] is False
    assert tool["result"]["contentItems"][0]["type"] == "inputText"


def test_a_crashed_service_is_restarted_and_answers_meanwhile_with_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entered, release = threading.Event(), threading.Event()
    on_child_down = RootSupervisor.on_child_down

    def slow_child_down(self: RootSupervisor, name: str, reason: BaseException | None) -> None:
        if name in ("approvals", "tools"):
            entered.set()
            release.wait(5)  # the supervisor has not restarted the service yet
        on_child_down(self, name, reason)

    monkeypatch.setattr(RootSupervisor, "on_child_down", slow_child_down)
    client = SyncRuntime(Runtime(fake_engine_config()))
    try:
        connection = client.runtime.connection()  # asked now: the supervisor is busy while a service is down
        for name, method in (("approvals", "item/commandExecution/requestApproval"), ("tools", "item/tool/call")):
            entered.clear()
            release.clear()
            old = ask(client.runtime.supervisor, GetChild(name))
            old.tell(object())  # an unknown message: the service raises and dies
            assert entered.wait(5)
            down = decoded(connection.request("test/server-request", {"method": method}, timeout=5))["answer"]
            assert down["error"] == {"code": -32603, "message": "codex-actors: the handler is restarting"}
            release.set()

            def restarted(name: str = name, old: Any = old) -> Any:
                ref = ask(client.runtime.supervisor, GetChild(name))
                return ref is not None and ref != old and ref.is_alive()

            wait_until(restarted, f"{name} restarted")
            assert "result" in server_request(client, method)
        rows = {row.name: row for row in ask(client.runtime.supervisor, WhichChildren())}
        assert rows["approvals"].restarts == 1
        assert rows["tools"].restarts == 1
        assert rows["engine"].restarts == 0  # one-for-one: nothing else was touched
    finally:
        release.set()
        client.runtime.close()


def test_telemetry_counts_port_events_and_unowned_notifications() -> None:
    client = SyncRuntime(Runtime(dataclasses.replace(fake_engine_config(), max_line_bytes=1024)))
    try:
        client.request("test/malformed", timeout=5)
        client.request("test/huge", {"size": 4096}, timeout=5)
        client.request("test/notify", {"count": 3, "method": "x/y", "params": {"threadId": "nobody"}}, timeout=5)
        expected = {
            "configWarning": 1,
            "x/y": 3,
            "ProtocolErrorEvent": 2,
            "LineDroppedEvent": 1,
            "protocol.error": 3,
            "EngineStartedEvent": 1,
            "engine.start": 1,
        }
        wait_until(lambda: counts(client) == expected, f"counts {expected}")
        pid = engine_pid(client)
        with pytest.raises(TransportClosedError):
            client.request("test/die", {"code": 5}, timeout=5)
        wait_until(lambda: engine_pid(client) not in (None, pid), "a restarted engine")
        wait_until(lambda: counts(client).get("EngineExitedEvent") == 1, "the engine's exit counted")
        wait_until(lambda: counts(client).get("engine.start") == 2, "the new engine's start counted")
        seen = counts(client)
        assert seen["configWarning"] == 2  # the new engine's handshake warning
        assert (seen["engine.exit"], seen["engine.restart"]) == (1, 1)
    finally:
        client.runtime.close()


# -- thread actors ------------------------------------------------------------------------------------------------


def test_a_thread_request_without_an_answer_times_out(runtime: SyncRuntime) -> None:
    with pytest.raises(RequestTimeoutError, match=r"test/hang got no reply within 0\.1 s"):
        runtime.thread_request(THREAD, "test/hang", {}, timeout=0.1)
    echoed = decoded(runtime.thread_request(THREAD, "test/echo", {"n": 1}, timeout=5))
    assert echoed == {"threadId": THREAD, "n": 1}  # the thread actor fills in the thread id
    with pytest.raises(RequestTimeoutError, match=r"test/hang got no reply within 0\.1 s"):
        runtime.request("test/hang", timeout=0.1)


def test_a_timed_out_thread_request_is_forgotten(runtime: SyncRuntime) -> None:
    # The caller gave up: the port must not keep waiting for it (EngineConnection.request does the same).
    with pytest.raises(RequestTimeoutError):
        runtime.thread_request(THREAD, "test/hang", {}, timeout=0.1)
    wait_until(
        lambda: runtime.runtime.connection().status().pending_requests == 0, "the port forgot the request", 2
    )


def test_requests_held_while_the_engine_is_down_fail_with_the_resume_error() -> None:
    runtime = SyncRuntime(Runtime(fake_engine_config(FAKE_ENGINE_REFUSE="thread/resume")))
    try:
        actor = runtime.bind_thread(THREAD)
        actor.tell(EngineDown(TransportClosedError("test: the engine is down")))
        held: pykka.Future[Any] = pykka.ThreadingFuture()
        finished: pykka.Future[TurnFinished] = pykka.ThreadingFuture()
        waiter = Waiter.start(finished)
        try:
            actor.tell(ThreadRequest("test/echo", {}, held))
            actor.tell(RunTurn(input="held", reply_to=waiter, tag="held"))
            with pytest.raises(pykka.Timeout):
                held.get(timeout=0.2)  # held, not sent
            actor.tell(EngineUp(runtime.runtime.connection()))  # the fake engine refuses thread/resume
            with pytest.raises(InvalidRequestError, match="thread/resume"):
                held.get(timeout=5)
            done = finished.get(timeout=5)
        finally:
            waiter.stop()
    finally:
        runtime.runtime.close()
    assert done.tag == "held"
    assert done.turn_id is None
    assert isinstance(done.error, InvalidRequestError)
    assert "thread/resume" in str(done.error)


def test_past_the_held_limit_requests_fail_at_once_and_the_rest_fail_at_close() -> None:
    client = SyncRuntime(Runtime(fake_engine_config()))
    try:
        actor = client.bind_thread(THREAD)
        actor.tell(EngineDown(TransportClosedError("test: the engine is down")))
        futures: list[pykka.Future[Any]] = [pykka.ThreadingFuture() for _ in range(MAX_HELD_REQUESTS + 1)]
        for future in futures:
            actor.tell(ThreadRequest("test/echo", {}, future))
        with pytest.raises(TransportClosedError, match="too many requests held while the engine restarts"):
            futures[-1].get(timeout=5)
    finally:
        client.runtime.close()
    for future in (futures[0], futures[-2]):
        with pytest.raises(TransportClosedError, match=f"the actor of thread {THREAD} stopped"):
            future.get(timeout=5)


def test_a_hand_built_handle_streams_a_flood_of_a_turn_it_subscribed_to_early(runtime: SyncRuntime) -> None:
    count = 5000
    runtime.bind_thread(THREAD)
    handle = TurnHandle(runtime, THREAD, TURN)  # the turn does not exist yet: its events are all future
    runtime.request("test/flood", {"count": count, "threadId": THREAD, "turnId": TURN}, timeout=5)
    events = list(handle.stream())
    assert {event.method for event in events[:-1]} == {"item/agentMessage/delta"}
    assert "".join(event.payload.delta for event in events[:-1]) == "x" * count
    assert sum(map(DELTAS.size, events[:-1])) == count  # read late: a backlog past the threshold is coalesced
    last = events[-1].payload
    assert isinstance(last, TurnCompletedNotification)
    assert last.turn.status == TurnStatus.completed
    assert list(TurnHandle(runtime, THREAD, TURN).stream()) == []  # ended: nothing more to come


def test_a_request_that_reaches_a_dying_port_waits_for_the_new_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """A request queued at the port when it crashes never reached the engine: it is held, not dropped or failed."""
    entered, release = threading.Event(), threading.Event()
    on_engine_exited = EnginePort._on_stdout_closed

    def slow_exit(self: EnginePort, exit_code: int | None) -> None:
        entered.set()
        release.wait(5)  # the port has seen its engine die but not crashed yet: its mailbox still takes tells
        on_engine_exited(self, exit_code)

    monkeypatch.setattr(EnginePort, "_on_stdout_closed", slow_exit)
    client = SyncRuntime(Runtime(fake_engine_config()))
    try:
        loaded = client.runtime.opened(THREAD, client.runtime.directory.generations[0])  # as if started here
        actor = client.bind_thread(THREAD)
        assert loaded.thread_id == THREAD
        port = client.runtime.connection().ref
        pid = client.runtime.connection().status().pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        assert entered.wait(5)
        future: pykka.Future[Any] = pykka.ThreadingFuture()
        actor.tell(ThreadRequest("test/echo", {}, future))
        wait_until(lambda: not port.actor_inbox.empty(), "the request queued at the port")
        release.set()
        assert decoded(future.get(timeout=5)) == {"threadId": THREAD}  # sent on the new engine, after the resume
        assert engine_pid(client) not in (None, pid)
    finally:
        release.set()
        client.runtime.close()


# -- the supervisor giving up -------------------------------------------------------------------------------------


def test_past_the_restart_limit_every_call_raises_engine_crashed(no_leaks: None) -> None:
    client = SyncRuntime(Runtime(fake_engine_config(), max_restarts=0))
    try:
        client.bind_thread(THREAD)
        with pytest.raises(TransportClosedError):
            client.request("test/die", {"code": 9}, timeout=5)

        # Asked after the supervisor gave up (an ask before could still reach the dying port).
        wait_until(lambda: ask(client.runtime.supervisor, WhichChildren()) == [], "the supervisor gave up")
        with pytest.raises(EngineCrashed) as info:
            client.request("test/echo", {}, timeout=5)
        error = info.value
        assert error.exit_code == 9
        assert "gave up" in str(error)
        with pytest.raises(EngineCrashed):
            client.thread_request(THREAD, "test/echo", {}, timeout=5)
        with pytest.raises(EngineCrashed):
            client.start_turn(THREAD, {"input": []}, timeout=5)
        with pytest.raises(EngineCrashed):
            client.runtime.connection()
    finally:
        client.runtime.close()
    client.runtime.close()


def test_an_engine_that_cannot_be_started_again_ends_in_engine_crashed(tmp_path: Path, no_leaks: None) -> None:
    script = tmp_path / "fake_engine.py"
    shutil.copy(FAKE_ENGINE, script)
    client = SyncRuntime(Runtime(CodexConfig(launch_args_override=(sys.executable, str(script)))))
    try:
        script.unlink()  # every restart now fails at once: python cannot open the script
        with pytest.raises(TransportClosedError):
            client.request("test/die", {}, timeout=5)

        def crashed() -> EngineCrashed | None:
            try:
                client.runtime.connection()
            except EngineCrashed as exc:
                return exc
            except TransportClosedError:
                return None
            return None

        error = wait_until(crashed, "EngineCrashed after failed restarts")
        assert "child 'engine'" in str(error)
    finally:
        client.runtime.close()


def test_a_turn_whose_events_arrive_before_its_turn_start_reply_loses_nothing() -> None:
    from codex_actors import Codex

    with Codex(fake_engine_config(FAKE_ENGINE_EVENTS_FIRST="1", FAKE_ENGINE_FLOOD="5")) as codex:
        thread = codex.thread_start()
        events = list(thread.turn("go").stream())
        assert [e.method for e in events][:1] == ["turn/started"]
        assert sum(e.method == "item/agentMessage/delta" for e in events) == 5
        assert events[-1].method == "turn/completed"
        assert thread.run("again").final_response == "xxxxx"


def _thread_actor(client: SyncRuntime, thread_id: str) -> Any:
    """The running actor of ``thread_id``, once it handled everything told before (asked an unknown message)."""
    ref = client.bind_thread(thread_id)
    ref.ask("barrier", timeout=30)
    return ref._actor_weakref()


def test_a_flood_of_events_for_unknown_turns_keeps_nothing_and_the_next_turn_works() -> None:
    import gc
    import tracemalloc

    from codex_actors.actors._thread import UNCLAIMED_TURNS_KEPT

    count = 200_000
    with Codex(fake_engine_config()) as codex:
        thread = codex.thread_start()
        client = codex._client
        _thread_actor(client, thread.id)
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            client.request("test/scatter", {"count": count, "threadId": thread.id}, timeout=120)
            actor = _thread_actor(client, thread.id)
            gc.collect()
            held = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert len(actor._turns) <= UNCLAIMED_TURNS_KEPT
        assert held < 8 * 1024 * 1024, f"{held} bytes held after {count} events of unknown turns"
        assert thread.run("next").final_response == "xxx"


def test_a_reader_that_starts_after_a_flood_of_deltas_ended_gets_the_whole_text_from_a_bounded_log(
    runtime: SyncRuntime,
) -> None:
    import gc
    import tracemalloc

    from codex_actors.actors._turnlog import COALESCE_AFTER

    count = 1_000_000
    runtime.bind_thread(THREAD)
    handle = TurnHandle(runtime, THREAD, TURN)  # subscribed before the turn's first event, read only after its end
    log = handle._subscription.log
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        runtime.request("test/flood", {"count": count, "threadId": THREAD, "turnId": TURN}, timeout=60)
        wait_until(lambda: log.done, "the flood's turn/completed", timeout=120)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(log) <= 2 * COALESCE_AFTER + 1024
    assert held < 16 * 1024 * 1024, f"{held} bytes held for a reader that lags {count} deltas"
    events = list(handle.stream())
    deltas = [event for event in events if event.method == "item/agentMessage/delta"]
    assert "".join(event.payload.delta for event in deltas) == "x" * count
    assert sum(map(DELTAS.size, deltas)) == count
    assert events[-1].method == "turn/completed"
    result = handle._subscription.result()
    assert result.id == TURN and result.status == TurnStatus.completed
