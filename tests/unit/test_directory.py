"""Thread addresses and the runtime's timers, on their own: a toy supervisor stands in for the root."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pykka
import pytest

from codex_actors.actors import RunTurn, ThreadRef, TurnFinished
from codex_actors.actors._directory import FORGOTTEN_TURNS_KEPT, ThreadDirectory, ThreadEntry
from codex_actors.actors._messages import StartThread
from codex_actors.actors._root import Escalation
from codex_actors.actors._timers import Timers
from codex_actors.errors import EngineCrashed, TransportClosedError, UnknownMessageError
from tests.support.waiting import wait_until


class Echo(pykka.ThreadingActor):
    """A stand-in thread actor: answers asks with what it got; a RunTurn with a TurnFinished."""

    use_daemon_thread = True

    def __init__(self, got: list[Any]) -> None:
        super().__init__()
        self.got = got

    def on_receive(self, message: Any) -> Any:
        self.got.append(message)
        if isinstance(message, RunTurn) and message.reply_to is not None:
            message.reply_to.tell(TurnFinished("t1", "u1", None, None, message.tag))
        if message == "stray":
            return UnknownMessageError("does not handle 'stray'")
        if message == "slow":
            threading.Event().wait(1)
        return ("echo", message)


class Root(pykka.ThreadingActor):
    """A stand-in root: ``StartThread`` starts an ``Echo`` and puts it in the entry (it stops them all)."""

    use_daemon_thread = True

    def __init__(self, directory: ThreadDirectory, got: list[Any]) -> None:
        super().__init__()
        self.directory = directory
        self.got = got
        self.started = 0
        self.children: list[pykka.ActorRef[Echo]] = []

    def on_stop(self) -> None:
        for child in self.children:
            child.stop()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, StartThread):
            entry = self.directory.entry(message.thread_id)
            with entry.lock:
                if entry.ref is None or not entry.ref.is_alive():
                    entry.ref = Echo.start(self.got)
                    self.children.append(entry.ref)
                    self.started += 1
            return entry.ref
        if message == "started":
            return self.started
        return None


@pytest.fixture
def rig(no_leaks: None) -> Iterator[tuple[ThreadDirectory, pykka.ActorRef[Root], list[Any]]]:
    escalation = Escalation()
    directory = ThreadDirectory(escalation)
    got: list[Any] = []
    root = Root.start(directory, got)
    directory.supervisor = root
    try:
        yield directory, root, got
    finally:
        root.stop()  # and every Echo it started


def test_an_address_starts_the_actor_on_first_use_and_again_after_it_stopped(
    rig: tuple[ThreadDirectory, pykka.ActorRef[Root], list[Any]],
) -> None:
    directory, root, got = rig
    address = directory.ref("t1")
    assert address.thread_id == "t1" and address.is_alive()
    assert directory.live_ref("t1") is None  # nothing started by making an address
    address.tell("one")
    assert address.ask("two", timeout=5) == ("echo", "two")
    first = directory.live_ref("t1")
    assert first is not None
    first.stop()  # the actor went (a hibernation, a crash): the address starts another
    assert address.ask("three", timeout=5) == ("echo", "three")
    assert root.ask("started") == 2
    assert [m for m in got if isinstance(m, str)] == ["one", "two", "three"]


def test_asked_a_run_turn_answers_its_turn_finished_and_a_refusal_is_raised(
    rig: tuple[ThreadDirectory, pykka.ActorRef[Root], list[Any]],
) -> None:
    directory, _, _ = rig
    address = directory.ref("t1")
    finished = address.ask(RunTurn(input="hi", tag=3), timeout=5)
    assert isinstance(finished, TurnFinished) and finished.tag == 3
    with pytest.raises(UnknownMessageError, match="stray"):
        address.ask("stray", timeout=5)
    future = address.ask("later", block=False)
    assert future.get(timeout=5) == ("echo", "later")
    with pytest.raises(TimeoutError, match="no answer within"):
        address.ask("slow", timeout=0.05)


def test_an_answer_lost_with_its_actor_is_an_sdk_error(
    rig: tuple[ThreadDirectory, pykka.ActorRef[Root], list[Any]],
) -> None:
    directory, _, _ = rig
    address = directory.ref("t1")
    address.tell("slow")  # keeps the actor busy while the next ask waits in its inbox
    pending = address.ask("queued", block=False)
    ref = directory.live_ref("t1")
    assert ref is not None
    ref.stop(block=False)  # the stop is queued after "queued"...
    actor = ref._actor_weakref()
    assert actor is not None
    actor._stop()  # ...but the actor is stopped at once, "queued" left unanswered in its inbox
    with pytest.raises(TransportClosedError, match="stopped before answering"):
        pending.get(timeout=5)


def test_addresses_are_equal_by_thread_and_runtime() -> None:
    one, two = ThreadDirectory(), ThreadDirectory()
    assert one.ref("t1") == one.ref("t1") and hash(one.ref("t1")) == hash(one.ref("t1"))
    assert one.ref("t1") != one.ref("t2") and one.ref("t1") != two.ref("t1") and one.ref("t1") != "t1"
    assert repr(one.ref("t1")) == "<ThreadRef thread_id='t1'>"
    assert isinstance(one.ref("t1"), ThreadRef)


def test_a_closed_or_crashed_runtime_refuses_with_sdk_errors() -> None:
    escalation = Escalation()
    directory = ThreadDirectory(escalation)
    address = directory.ref("t1")
    with pytest.raises(TransportClosedError, match="not running"):  # no supervisor yet
        address.tell("x")
    with pytest.raises(TransportClosedError, match="not running"):
        directory.revive("t1")
    escalation.error = EngineCrashed("gave up")
    with pytest.raises(EngineCrashed, match="gave up"):
        address.tell("x")
    directory.closed = True
    assert not address.is_alive()
    with pytest.raises(TransportClosedError, match="not running"):
        address.ask("x")


def test_a_dead_supervisor_is_not_running(no_leaks: None) -> None:
    directory = ThreadDirectory()
    root = Root.start(directory, [])
    directory.supervisor = root
    root.stop()
    with pytest.raises(TransportClosedError, match="not running"):
        directory.ref("t1").tell("x")


def test_entries_are_weak_and_remember_a_bounded_number_of_ended_turns() -> None:
    directory = ThreadDirectory()
    entry = directory.entry("t1")
    assert directory.find("t1") is entry and len(directory) == 1
    directory.mark_loaded("t1", 4)
    assert entry.loaded == 4
    directory.mark_unloaded("t1")
    directory.mark_unloaded("t2")  # nothing refers to it: nothing to do
    assert entry.loaded is None
    for index in range(FORGOTTEN_TURNS_KEPT + 10):
        entry.forget_turn(f"u{index}")
    assert len(entry.forgotten) == FORGOTTEN_TURNS_KEPT and "u0" not in entry.forgotten
    del entry
    assert directory.find("t1") is None and len(directory) == 0
    assert isinstance(ThreadEntry("t3").forgotten, dict)


def test_timers_call_in_deadline_order_on_one_thread_and_close_drops_the_rest(
    caplog: pytest.LogCaptureFixture, no_leaks: None
) -> None:
    timers = Timers()
    calls: list[str] = []
    names: set[str] = set()

    def call(name: str) -> Any:
        def run() -> None:
            names.add(threading.current_thread().name)
            calls.append(name)
            if name == "boom":
                raise RuntimeError("a broken callback")

        return run

    timers.call_later(0.2, call("late"))
    timers.call_later(0.0, call("boom"))
    timers.call_later(0.05, call("soon"))
    timers.call_later(30, call("never"))
    with caplog.at_level(logging.ERROR, logger="codex_actors.timers"):
        wait_until(lambda: len(calls) == 3, "the three due calls")
    assert calls == ["boom", "soon", "late"] and names == {"codex-actors-timers"}
    assert "a timer callback raised" in caplog.text
    assert len(timers) == 1
    timers.close()
    timers.close()
    timers.call_later(0, call("after close"))
    assert len(timers) == 0 and calls == ["boom", "soon", "late"]
