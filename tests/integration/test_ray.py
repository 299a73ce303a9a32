"""Codex threads hosted as Ray actors (``codex_actors.ray``), on the REAL engine + scripted model, Ray local.

One local cluster for the session (``tests/support/ray_cluster.py``: 127.0.0.1 only, and no Ray process left
after it); one scripted model and one ``CODEX_HOME`` shared by every host here (the engine itself refuses a
second writer of a thread). Hosts take ``num_cpus=0``, so 16 fit on a 2-core machine.

Counts, not timings: what the scripted model received, the ids and histories the engine reports, processes.
"""

from __future__ import annotations

import os
import pickle
import signal
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import psutil
import pytest
from prometheus_client import CollectorRegistry

from tests.support.ray_cluster import (  # noqa: F401 (the fixtures)
    RAY_MISSING,
    RayCluster,
    ray_cluster_fixture,
    ray_cluster_stops_after_its_last_test,
)
from tests.support.waiting import wait_until

if RAY_MISSING:
    pytest.skip(RAY_MISSING, allow_module_level=True)

import ray

from codex_actors import ApprovalMode, CodexConfig
from codex_actors._ray_host import RECORD_DIR
from codex_actors.errors import (
    CodexError,
    InvalidInputError,
    InvalidRequestError,
    TransportClosedError,
    UnknownThreadError,
)
from codex_actors.models import Notification
from codex_actors.ray import HostInfo, RayThread, RayTurn, _get, _RayHost, get_thread, host_thread
from codex_actors.testing import Gate, OfflineEngine, failed, message, reply, streamed_message
from codex_actors.types import TurnStatus

#: The actor options of every host here.
HOSTED = {"num_cpus": 0}


@pytest.fixture(scope="module")
def offline(ray_cluster: RayCluster) -> Iterator[OfflineEngine]:
    with OfflineEngine(default=message("ok")) as engine:
        yield engine


def host(config: CodexConfig, name: str) -> RayThread:
    """A new hosted thread, on the scripted model, that never asks for approval."""
    return host_thread(name, config, approval_mode=ApprovalMode.deny_all, ray_options=HOSTED)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def last_prompts(engine: OfflineEngine) -> list[str]:
    """The prompt of each model request so far (its last user message), in order."""
    return [request.message_texts()[-1] for request in engine.model.model_requests]


def engines_of(pid: int) -> list[psutil.Process]:
    """The processes a host's worker started (its engine and what that runs)."""
    return psutil.Process(pid).children(recursive=True)


def dead(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@ray.remote(num_cpus=0)
def drive(names: list[str], prompt: str) -> list[tuple[str, str, str | None]]:
    """A Ray task: find each host by name, run one turn on it; ``(name, thread id, answer)`` each."""
    done = []
    for name in names:
        thread = get_thread(name)
        done.append((name, thread.id, thread.run(f"{prompt} {name}").final_response))
    return done


@ray.remote(num_cpus=0)
def look_up(name: str) -> HostInfo:
    """A Ray task: where the host ``name`` says its thread lives."""
    return get_thread(name).info()


# -- the acceptance scenario --------------------------------------------------------------------------------------


@pytest.mark.timeout(240)
def test_16_hosted_threads_driven_from_4_tasks_and_a_kill_9_of_one_host_resumes_its_thread_by_id(
    offline: OfflineEngine,
) -> None:
    names = [unique(f"acc{index}") for index in range(16)]
    with ThreadPoolExecutor(len(names)) as pool:  # Ray starts their workers side by side
        threads = list(pool.map(partial(host, offline.config), names))
    assert len({thread.id for thread in threads}) == 16
    assert len({thread.info().pid for thread in threads}) == 16  # one worker process (and engine) each

    # Four Ray tasks, four hosts each, every handle found by name inside the task.
    groups = [names[start : start + 4] for start in range(0, 16, 4)]
    rows = [row for group in ray.get([drive.remote(group, "one") for group in groups]) for row in group]
    assert sorted(rows) == sorted((thread.name, thread.id, "ok") for thread in threads)
    assert sorted(last_prompts(offline)[-16:]) == sorted(f"one {name}" for name in names)

    victim = threads[5]
    before = victim.info()
    engines = engines_of(before.pid)
    assert engines, "the host's worker runs its engine"
    requests = len(offline.model.model_requests)

    # A turn in flight on the victim (its model reply held at a gate), streamed by the driver.
    gate = Gate()
    offline.model.enqueue(reply(streamed_message("partial ", "answer"), gate))
    turn = victim.turn("in flight")
    seen: list[Notification] = []
    failure: list[BaseException] = []

    def consume() -> None:
        try:
            seen.extend(turn.stream())
        except BaseException as exc:
            failure.append(exc)

    reader = threading.Thread(target=consume)
    reader.start()
    assert gate.reached.wait(30)
    os.kill(before.pid, signal.SIGKILL)
    reader.join(60)
    gate.open()
    assert not reader.is_alive()

    # The turn in flight failed with TransportClosedError (never a Ray error), saying the Ray host died.
    assert [type(exc) for exc in failure] == [TransportClosedError], failure
    assert "Ray host" in str(failure[0]) and "restarted (it had died)" in str(failure[0])
    # The killed worker's engine saw its stdin close and exited: none is left behind.
    wait_until(lambda: all(dead(engine) for engine in engines), "the killed host's engine exited", 30)

    # The next call on the same handle: the restarted host resumed the SAME thread, with its history.
    history = victim.read(include_turns=True)
    assert history.thread.id == victim.id
    assert len(history.thread.turns) == 2  # the turn "one" and the one in flight at the kill
    assert history.thread.turns[0].status == TurnStatus.completed
    assert history.thread.turns[1].status != TurnStatus.completed
    found = pickle.loads(pickle.dumps(get_thread(victim.name)))  # and a fresh get_thread, here and in a task
    assert (found.id, repr(found)) == (victim.id, repr(victim))
    after = ray.get(look_up.remote(victim.name))
    assert (after.thread_id, after.reconstructed) == (victim.id, True)
    assert after.pid != before.pid

    # The turn in flight is not re-run by itself: the model got its request once, and the next turn's.
    assert victim.run("after the kill").final_response == "ok"
    assert last_prompts(offline)[requests:] == ["in flight", "after the kill"]
    # The old turn's handle: the restarted host does not hold it.
    with pytest.raises(TransportClosedError, match="holds no turn"):
        turn.run()

    # Every other host was untouched: one more turn each, the same thread ids, no restart.
    rows = ray.get(drive.remote([name for name in names if name != victim.name], "two"))
    assert {row[1] for row in rows} == {thread.id for thread in threads if thread is not victim}
    assert not any(thread.info().reconstructed for thread in threads if thread is not victim)

    for thread in threads:
        thread.close()
    for name in names:
        with pytest.raises(LookupError):
            get_thread(name)


# -- errors cross as their own types ---------------------------------------------------------------------------


def test_errors_raised_in_the_host_are_raised_as_their_own_types(offline: OfflineEngine) -> None:
    # An id the engine does not know: the new host is stopped, the error is the SDK's own, the name free again.
    name = unique("bad-id")
    with pytest.raises(UnknownThreadError) as bad:
        host_thread(name, offline.config, thread_id=str(uuid.uuid4()), ray_options=HOSTED)
    assert type(bad.value) is UnknownThreadError and isinstance(bad.value, InvalidRequestError)
    assert bad.value.code == -32600 and bad.value.thread_id
    assert any(f"in the Ray host {name!r}" in note for note in bad.value.__notes__)
    with pytest.raises(LookupError, match=name):
        get_thread(name)

    thread = host(offline.config, unique("errors"))
    try:
        # Refused in the host before anything is sent: InvalidInputError(field, reason), which plain pickling
        # cannot rebuild (its __init__ takes two arguments).
        with pytest.raises(InvalidInputError) as invalid:
            thread.run("bad \ud800 text")
        assert invalid.value.field.startswith("input")
        # A failed turn raises RuntimeError with its message, as Thread.run does; through a handle too.
        offline.model.enqueue(failed("the model broke"))
        with pytest.raises(RuntimeError, match="the model broke"):
            thread.run("fail please")
        offline.model.enqueue(failed("broke again"))
        with pytest.raises(RuntimeError, match="broke again"):
            thread.turn("fail again").run()
        # A handle naming another thread than the host's.
        stray = RayThread(thread.actor, HostInfo(thread.name, thread.namespace, "not-this-one", 0, None, False))
        with pytest.raises(UnknownThreadError, match="not-this-one"):
            stray.read()
        with pytest.raises(TransportClosedError, match="does not know its thread"):
            RayThread(thread.actor, HostInfo(thread.name, thread.namespace, None, 0, None, False))
        # Ray's own path, for a method raising in the actor (the host's calls answer errors instead): Ray raises a
        # RayTaskError subclassing the cause; the handle's unwrapping raises the cause's exact class.
        with pytest.raises(TransportClosedError) as raw:
            ray.get(thread.actor.events.remote(thread.id, "no-such-turn"))
        assert type(raw.value) is not TransportClosedError and isinstance(raw.value, ray.exceptions.RayTaskError)
        with pytest.raises(TransportClosedError) as unwrapped:
            _get(thread.actor.events.remote(thread.id, "no-such-turn"), thread.name)
        assert type(unwrapped.value) is TransportClosedError
        # And an existing host asked to host another thread.
        with pytest.raises(ValueError, match="already hosts thread"):
            host_thread(thread.name, offline.config, thread_id=str(uuid.uuid4()), ray_options=HOSTED)
        assert thread.run("still fine").final_response == "ok"
    finally:
        thread.close()
    with pytest.raises(CodexError):  # closed: the actor is gone
        thread.read()


def test_ray_options_that_would_re_run_a_turn_are_refused() -> None:
    with pytest.raises(ValueError, match="max_task_retries"):
        host_thread("never", ray_options={"max_task_retries": 1})
    with pytest.raises(ValueError, match="name"):
        host_thread("never", ray_options={"name": "other"})
    with pytest.raises(ValueError, match="non-empty"):
        host_thread("")
    with pytest.raises(ValueError, match="metrics_registry"):
        host_thread("never", CodexConfig(metrics_registry=CollectorRegistry()))


# -- turns through a handle --------------------------------------------------------------------------------------


def test_a_turn_streams_in_batches_pickles_and_can_be_steered_and_interrupted(offline: OfflineEngine) -> None:
    thread = host(offline.config, unique("stream"))
    try:
        chunks = [f"chunk{index} " for index in range(50)]
        offline.model.enqueue(reply(streamed_message(*chunks)))
        turn = thread.turn("stream it")
        events = list(turn.stream())
        assert events[-1].method == "turn/completed"
        deltas = [event for event in events if event.method == "item/agentMessage/delta"]
        assert "".join(event.payload.delta for event in deltas) == "".join(chunks)
        with pytest.raises(TransportClosedError, match="subscription closed"):
            turn.stream()
        result = turn.run()  # after its stream: the result the host assembled
        assert result.final_response == "".join(chunks) and result.id == turn.id
        assert turn.run() == result  # asked again: the same

        # A handle pickles: a task streams a turn started by the driver.
        offline.model.enqueue(reply(streamed_message("from ", "a task")))
        started = thread.turn("stream it elsewhere")
        methods = ray.get(ray.remote(num_cpus=0)(stream_methods).remote(started))
        assert methods[-1] == "turn/completed"
        assert started.run().final_response == "from a task"

        # Steer and interrupt a turn held at a gate.
        gate = Gate()
        offline.model.enqueue(reply(message("never said"), gate))
        held = thread.turn("hold on")
        assert gate.reached.wait(30)
        assert held.steer("and also this") is not None
        held.interrupt()
        gate.open()
        assert held.run().status == TurnStatus.interrupted
        assert repr(held) == f"RayTurn(id={held.id!r}, thread_id={thread.id!r})"

        # A stream closed before its turn ended, with interrupt_on_close: the turn is interrupted.
        gate = Gate()
        offline.model.enqueue(reply(gate, message("never said either")))
        dropped = thread.turn("hold on again")
        stream = dropped.stream(interrupt_on_close=True)
        assert next(stream).method == "turn/started"
        assert gate.reached.wait(30)  # the model has the turn's request: its reply is taken
        stream.close()
        gate.open()
        assert dropped.run().status == TurnStatus.interrupted
    finally:
        thread.close()


def ended_turns_are(thread: RayThread, count: int) -> bool:
    turns = thread.read(include_turns=True).thread.turns
    return len(turns) == count and turns[-1].status == TurnStatus.completed


def stream_methods(turn: RayTurn) -> list[str]:
    return [event.method for event in turn.stream()]


def test_a_host_holds_a_bounded_number_of_turns_dropping_the_oldest_ended(offline: OfflineEngine) -> None:
    from codex_actors._ray_host import MAX_TURNS_KEPT

    thread = host(offline.config, unique("bounded"))
    try:
        # A first turn, run whole: only then does the thread have a rollout for `thread/read` to list turns from
        # (before it, the engine answers includeTurns with -32601 "list_turns is not supported yet").
        assert thread.run("a first one").final_response == "ok"
        turns = []
        for index in range(MAX_TURNS_KEPT + 2):  # nothing reads them: each ends on its own, then the next starts
            turns.append(thread.turn(f"never read {index}"))
            wait_until(partial(ended_turns_are, thread, index + 2), f"turn {index} ended", 30)
        assert thread.run("a last one").final_response == "ok"
        for turn in turns[:2]:
            with pytest.raises(TransportClosedError, match="holds no turn"):
                turn.run()
        assert turns[-1].run().final_response == "ok"
    finally:
        thread.close()


# -- lifecycle --------------------------------------------------------------------------------------------------


def test_close_frees_the_name_the_thread_is_hosted_again_by_id_and_a_restart_resumes_it(
    offline: OfflineEngine, ray_cluster: RayCluster
) -> None:
    name = unique("life")
    thread = host(offline.config, name)
    assert thread.run("first").final_response == "ok"
    record = offline.codex_home / RECORD_DIR / thread.namespace / f"{name}.json"
    assert record.exists()  # the id, in the node's CODEX_HOME
    pid = thread.info().pid
    engines = engines_of(pid)
    thread.close()
    assert not record.exists()
    with pytest.raises(LookupError):
        get_thread(name)
    wait_until(lambda: all(dead(engine) for engine in engines), "the closed host's engine exited", 30)

    again = host_thread(unique("again"), offline.config, thread_id=thread.id, ray_options=HOSTED)
    try:
        assert again.id == thread.id
        assert [turn.status for turn in again.read(include_turns=True).thread.turns] == [TurnStatus.completed]
        # kill(no_restart=False): Ray restarts it, as after a crash; the restarted host reads its record.
        again.kill(no_restart=False)
        assert again.read().thread.id == thread.id
        assert again.info().reconstructed
        assert again.run("second").final_response == "ok"
    finally:
        again.close()


def test_the_api_key_reaches_the_host_and_is_in_no_ray_log(ray_cluster: RayCluster, tmp_path: Path) -> None:
    key = f"sk-test-{uuid.uuid4().hex}"
    with OfflineEngine(default=message("ok"), root=tmp_path / "keyed", api_key=key) as engine:
        config: CodexConfig = engine.config
        assert key not in repr(config)
        thread = host(config, unique("keyed"))
        try:
            assert thread.run("with a key").final_response == "ok"
        finally:
            thread.close()
    found = [
        str(path)
        for path in ray_cluster.logs_dir.rglob("*")
        if path.is_file() and key.encode() in path.read_bytes()
    ]
    assert found == []
    assert any(ray_cluster.logs_dir.rglob("worker-*")), "the workers' logs are there to look in"


def test_two_kills_in_a_row_each_restart_resumes_the_thread_and_no_turn_runs_twice(offline: OfflineEngine) -> None:
    thread = host(offline.config, unique("twice"))
    try:
        requests = len(offline.model.model_requests)
        for round_ in range(2):
            assert thread.run(f"round {round_}").final_response == "ok"
            os.kill(thread.info().pid, signal.SIGKILL)
            # A turn sent to the dead host fails (never a Ray error) and is never run: Ray does not send it again.
            with pytest.raises(TransportClosedError, match="Ray host"):
                thread.run("sent to the dead host")
        # The handle saw its host die: its next turn first waits for the restarted host.
        assert thread.run("after two kills").final_response == "ok"
        assert [turn.status for turn in thread.read(include_turns=True).thread.turns] == [TurnStatus.completed] * 3
        assert last_prompts(offline)[requests:] == ["round 0", "round 1", "after two kills"]
    finally:
        thread.close()


def test_the_host_class_in_this_process_takes_its_namespace_and_node_from_ray(offline: OfflineEngine) -> None:
    """``_RayHost.__init__`` runs in Ray's workers; here, in the driver, for what it reads of Ray's context."""
    host = _RayHost(unique("local"), offline.config, None, {"approval_mode": ApprovalMode.deny_all})
    try:
        info = host.info()
        context = ray.get_runtime_context()
        assert (info.namespace, info.node_id, info.reconstructed) == (
            context.namespace,
            context.get_node_id(),
            False,
        )
    finally:
        host.shutdown()


def test_set_name_and_compact_reach_the_engine(ray_cluster: RayCluster, tmp_path: Path) -> None:
    with OfflineEngine(default=message("summary"), root=tmp_path / "own") as engine:  # its own model: compaction
        thread = host(engine.config, unique("names"))
        try:
            assert thread.run("something to compact").final_response == "summary"
            thread.set_name("a name")
            assert thread.read().thread.name == "a name"
            assert thread.compact() is not None
        finally:
            thread.close()
