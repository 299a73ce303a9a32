"""The supervisor, with toy actors: restarts, policies, intensity, escalation, stale reports, stopping."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

import pykka
import pytest

from codex_actors.actors._supervisor import (
    ChildContext,
    ChildExited,
    ChildInfo,
    ChildReady,
    ChildSpec,
    GetChild,
    RestartPolicy,
    StartChild,
    SupervisedActor,
    Supervisor,
    SupervisorGaveUp,
    TerminateChild,
    WhichChildren,
    _RetryRestart,
)
from codex_actors.errors import EngineCrashed, TransportClosedError
from tests.support.waiting import wait_until

Ref = pykka.ActorRef[Any]


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    before = threading.active_count()
    yield
    deadline = time.monotonic() + 3.0
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    leaked = threading.active_count() - before
    if leaked > 0:
        pykka.ActorRegistry.stop_all()
    assert leaked <= 0, f"{leaked} thread(s) left running"


class Toy(SupervisedActor):
    """A child that crashes, stops, sleeps or answers on command, and logs its stops."""

    def __init__(self, context: ChildContext | None, log: list[str] | None = None) -> None:
        super().__init__(context)
        self.log = log

    def on_receive(self, message: Any) -> Any:
        match message:
            case "raise":
                raise RuntimeError("boom")
            case ("crash", error):
                self.crash(error)
            case "stop":
                self.stop()
            case ("sleep", seconds):
                time.sleep(seconds)
            case "context":
                return self.context
        return None

    def on_stop(self) -> None:
        if self.log is not None and self.context is not None:
            self.log.append(self.context.name)
        super().on_stop()


class FailingToy(Toy):
    """A child whose on_failure records the reason before reporting."""

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self.log is not None
        self.log.append(f"failure:{exception_value}")
        super().on_failure(exception_type, exception_value, traceback)


class BadStartToy(Toy):
    """A child whose first incarnation fails in on_start (so neither on_stop nor on_failure runs)."""

    def on_start(self) -> None:
        assert self.context is not None
        if self.context.generation == 0:
            raise RuntimeError("bad start")


class Recording(Supervisor):
    """Records the hooks, and answers a message of its own."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.events: list[tuple[Any, ...]] = []

    def on_child_down(self, name: str, reason: BaseException | None) -> None:
        self.events.append(("down", name, reason))

    def on_child_restarted(self, name: str, ref: Ref) -> None:
        self.events.append(("restarted", name, ref))

    def on_escalate(self, error: BaseException) -> None:
        self.events.append(("escalate", error))

    def on_other_message(self, message: Any) -> Any:
        if message == "events":
            return list(self.events)
        return super().on_other_message(message)


def toy(name: str, restart: RestartPolicy = RestartPolicy.permanent, **kwargs: Any) -> ChildSpec:
    log: list[str] | None = kwargs.pop("log", None)
    cls: type[Toy] = kwargs.pop("cls", Toy)
    return ChildSpec(name, lambda ctx: cls.start(ctx, log), restart, **kwargs)


@pytest.fixture
def start_supervisor(no_leaked_threads: None) -> Iterator[Callable[..., Ref]]:
    refs: list[Ref] = []

    def start(*children: ChildSpec, cls: type[Supervisor] = Recording, **kwargs: Any) -> Ref:
        ref: Ref = cls.start(children, **kwargs)
        refs.append(ref)
        return ref

    yield start
    for ref in refs:
        ref.stop()


def child(sup: Ref, name: str) -> Ref | None:
    result: Ref | None = sup.ask(GetChild(name), block=True)
    return result


def infos(sup: Ref) -> dict[str, ChildInfo]:
    return {info.name: info for info in sup.ask(WhichChildren(), block=True)}


def events(sup: Ref) -> list[tuple[Any, ...]]:
    result: list[tuple[Any, ...]] = sup.ask("events", block=True)
    return result


def escalated(sup: Ref) -> bool:
    return any(event[0] == "escalate" for event in events(sup))


def restarted(sup: Ref, name: str, old: Ref | None) -> Ref:
    wait_until(lambda: child(sup, name) not in (None, old))
    new = child(sup, name)
    assert new is not None
    return new


def test_permanent_crash_is_restarted_with_next_generation(start_supervisor: Callable[..., Ref]) -> None:
    sup = start_supervisor(toy("a"))
    old = child(sup, "a")
    assert old is not None
    assert old.ask("context", block=True).generation == 0

    old.tell("raise")
    new = restarted(sup, "a", old)

    assert not old.is_alive()
    assert new.ask("context") == ChildContext(sup, "a", 1)
    assert infos(sup)["a"] == ChildInfo("a", RestartPolicy.permanent, restarts=1, generation=1, alive=True)
    down, up = events(sup)
    assert down[:2] == ("down", "a")
    assert isinstance(down[2], RuntimeError)
    assert str(down[2]) == "boom"
    assert up == ("restarted", "a", new)


def test_permanent_normal_stop_is_restarted(start_supervisor: Callable[..., Ref]) -> None:
    sup = start_supervisor(toy("a"))
    old = child(sup, "a")
    assert old is not None
    old.tell("stop")
    restarted(sup, "a", old)
    assert events(sup)[0] == ("down", "a", None)


def test_transient_normal_stop_is_not_restarted(start_supervisor: Callable[..., Ref]) -> None:
    sup = start_supervisor(toy("a", RestartPolicy.transient))
    ref = child(sup, "a")
    assert ref is not None
    ref.stop()
    wait_until(lambda: events(sup))
    assert events(sup) == [("down", "a", None)]
    assert child(sup, "a") is None
    assert infos(sup) == {}


def test_transient_crash_is_restarted(start_supervisor: Callable[..., Ref]) -> None:
    sup = start_supervisor(toy("a", RestartPolicy.transient))
    old = child(sup, "a")
    assert old is not None
    old.tell("raise")
    restarted(sup, "a", old)
    assert infos(sup)["a"].restarts == 1


@pytest.mark.parametrize("command", ["raise", "stop"])
def test_temporary_is_never_restarted(start_supervisor: Callable[..., Ref], command: str) -> None:
    sup = start_supervisor(toy("a", RestartPolicy.temporary))
    ref = child(sup, "a")
    assert ref is not None
    ref.tell(command)
    wait_until(lambda: events(sup))
    assert [event[:2] for event in events(sup)] == [("down", "a")]
    assert infos(sup) == {}


def test_crash_restarts_without_pykka_error_log(
    start_supervisor: Callable[..., Ref], caplog: pytest.LogCaptureFixture
) -> None:
    log: list[str] = []
    sup = start_supervisor(toy("a", log=log, cls=FailingToy))
    old = child(sup, "a")
    assert old is not None
    error = TransportClosedError("engine died", exit_code=3)

    with caplog.at_level(logging.DEBUG):
        old.tell(("crash", error))
        restarted(sup, "a", old)

    assert events(sup)[0] == ("down", "a", error)
    assert log == ["failure:engine died"]  # on_failure ran, on_stop did not
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not [r for r in caplog.records if "Unhandled exception" in r.getMessage()]


def test_crash_whose_on_failure_raises_still_reports(start_supervisor: Callable[..., Ref]) -> None:
    class BrokenFailure(Toy):
        def on_failure(self, *exc_info: Any) -> None:
            raise ValueError("cleanup failed")

    sup = start_supervisor(toy("a", cls=BrokenFailure))
    old = child(sup, "a")
    assert old is not None
    error = RuntimeError("broken")
    old.tell(("crash", error))
    restarted(sup, "a", old)
    assert events(sup)[0] == ("down", "a", error)


def test_failure_in_on_start_is_reported_and_restarted(start_supervisor: Callable[..., Ref]) -> None:
    sup = start_supervisor(toy("a", cls=BadStartToy))
    restarted(sup, "a", None)  # the first incarnation died in on_start
    wait_until(lambda: infos(sup)["a"].generation == 1)
    down = events(sup)[0]
    assert down[:2] == ("down", "a")
    assert str(down[2]) == "bad start"


def test_intensity_exceeded_escalates(start_supervisor: Callable[..., Ref]) -> None:
    log: list[str] = []
    sup = start_supervisor(toy("a", log=log), toy("b", log=log), max_restarts=3, max_seconds=5)
    ref = child(sup, "a")
    b = child(sup, "b")
    assert ref is not None
    assert b is not None
    for _ in range(3):
        ref.tell("raise")
        ref = restarted(sup, "a", ref)
    assert infos(sup)["a"].restarts == 3

    ref.tell(("crash", TransportClosedError("engine died", exit_code=7, stderr_tail="panic")))
    wait_until(lambda: escalated(sup))

    error = events(sup)[-1][1]
    assert isinstance(error, SupervisorGaveUp)
    message = str(error)
    assert "'supervisor'" in message
    assert "'a'" in message
    assert "4 restarts within 5 s" in message
    assert "max_restarts=3" in message
    assert "engine died" in message
    assert (error.supervisor, error.child) == ("supervisor", "a")
    assert isinstance(error.reason, TransportClosedError) and error.reason.exit_code == 7
    assert error.__cause__ is error.reason
    assert not ref.is_alive()
    assert not b.is_alive()
    assert log == ["b"]  # a had crashed; b was stopped by the escalation
    assert sup.proxy().escalation.get() is error

    for ask in (StartChild(toy("c")), TerminateChild("a"), GetChild("a")):
        with pytest.raises(SupervisorGaveUp, match="gave up"):
            sup.ask(ask)
    assert sup.ask(WhichChildren()) == []
    assert sup.is_alive()


class Translating(Recording):
    """A supervisor whose giving up is a domain error, as the root supervisor's is ``EngineCrashed``."""

    def escalation_error(self, gave_up: SupervisorGaveUp) -> BaseException:
        reason = gave_up.reason
        exit_code = reason.exit_code if isinstance(reason, TransportClosedError) else None
        return EngineCrashed(str(gave_up), exit_code=exit_code)


def test_a_subclass_turns_giving_up_into_its_own_error_raised_fresh_to_every_ask() -> None:
    sup = Translating.start([toy("a")], max_restarts=0)
    try:
        ref = child(sup, "a")
        assert ref is not None
        ref.tell(("crash", TransportClosedError("engine died", exit_code=7)))
        wait_until(lambda: escalated(sup))
        error = events(sup)[-1][1]
        assert isinstance(error, EngineCrashed) and error.exit_code == 7
        raised = []
        for _ in range(2):
            with pytest.raises(EngineCrashed, match="gave up") as info:
                sup.ask(GetChild("a"))
            assert info.value.__cause__ is error and info.value.exit_code == 7
            raised.append(info.value)
        assert raised[0] is not raised[1]
    finally:
        sup.stop()


def test_normal_exits_count_toward_intensity(start_supervisor: Callable[..., Ref]) -> None:
    sup = start_supervisor(toy("a"), max_restarts=0)
    ref = child(sup, "a")
    assert ref is not None
    ref.stop()
    wait_until(lambda: escalated(sup))
    assert "last reason: normal exit" in str(events(sup)[-1][1])
    assert events(sup)[-1][1].reason is None


def test_restarts_outside_the_window_do_not_escalate(start_supervisor: Callable[..., Ref]) -> None:
    sup = start_supervisor(toy("a"), max_restarts=1, max_seconds=0.2)
    ref = child(sup, "a")
    assert ref is not None
    for _ in range(4):
        time.sleep(0.25)
        ref.tell("raise")
        ref = restarted(sup, "a", ref)
    assert infos(sup)["a"].restarts == 4
    assert all(event[0] != "escalate" for event in events(sup))


def test_start_that_keeps_failing_escalates(start_supervisor: Callable[..., Ref]) -> None:
    calls: list[int] = []

    def start(ctx: ChildContext) -> Ref:
        calls.append(ctx.generation)
        if ctx.generation > 0:
            raise OSError("cannot spawn")
        return Toy.start(ctx)

    sup = start_supervisor(ChildSpec("a", start), max_restarts=3, max_seconds=5)
    ref = child(sup, "a")
    assert ref is not None
    ref.tell("raise")
    wait_until(lambda: escalated(sup))

    assert calls == [0, 1, 2, 3]  # the first start, then three failed attempts, then escalation
    assert [event[0] for event in events(sup)] == ["down", "escalate"]
    assert "OSError('cannot spawn')" in str(events(sup)[-1][1])


def test_failed_attempts_in_a_row_escalate_even_when_each_outlasts_the_window(
    start_supervisor: Callable[..., Ref],
) -> None:
    calls: list[int] = []

    def start(ctx: ChildContext) -> Ref:
        calls.append(ctx.generation)
        if ctx.generation > 0:
            time.sleep(0.05)  # longer than the window: the window alone would never fill up
            raise OSError("cannot spawn")
        return Toy.start(ctx)

    sup = start_supervisor(ChildSpec("a", start), max_restarts=2, max_seconds=0.01)
    ref = child(sup, "a")
    assert ref is not None
    ref.tell("raise")
    wait_until(lambda: escalated(sup))
    assert calls == [0, 1, 2]
    assert "failed 2 restart attempts in a row" in str(events(sup)[-1][1])


def test_an_acknowledged_restart_is_up_only_once_acknowledged(start_supervisor: Callable[..., Ref]) -> None:
    starting: list[Ref] = []

    def start(ctx: ChildContext) -> Ref:
        ref = Toy.start(ctx)
        if ctx.generation > 0:
            starting.append(ref)
        return ref

    sup = start_supervisor(ChildSpec("a", start, acknowledged=True), max_restarts=3, max_seconds=5)
    first = child(sup, "a")
    assert first is not None
    first.tell("raise")
    wait_until(lambda: len(starting) == 1)
    assert [event[0] for event in events(sup)] == ["down"]  # started, not restarted yet
    starting[0].tell(("crash", OSError("handshake failed")))  # a failed attempt: not "down" again
    wait_until(lambda: len(starting) == 2)
    generation = starting[1].ask("context", block=True).generation
    sup.tell(ChildReady("a", generation))
    wait_until(lambda: [event[0] for event in events(sup)] == ["down", "restarted"])
    starting[1].tell("raise")  # a crash after the acknowledgement: the run of failures was ended
    wait_until(lambda: len(starting) == 3)
    assert not escalated(sup)


def test_failed_restart_attempt_then_success(start_supervisor: Callable[..., Ref]) -> None:
    def start(ctx: ChildContext) -> Ref:
        if ctx.generation == 1:
            raise OSError("flaky")
        return Toy.start(ctx)

    sup = start_supervisor(ChildSpec("a", start))
    old = child(sup, "a")
    assert old is not None
    old.tell("raise")
    new = restarted(sup, "a", old)
    assert new.ask("context", block=True).generation == 2
    assert infos(sup)["a"].restarts == 2


def test_stale_reports_are_ignored(start_supervisor: Callable[..., Ref]) -> None:
    sup = start_supervisor(toy("a"))
    old = child(sup, "a")
    assert old is not None
    old.tell("raise")
    new = restarted(sup, "a", old)

    sup.tell(ChildExited("a", 0, RuntimeError("late report of generation 0")))
    sup.tell(ChildExited("a", 7, None))
    sup.tell(ChildExited("nobody", 1, None))
    sup.tell(_RetryRestart("a", 0, RuntimeError("late retry of generation 0")))

    assert child(sup, "a") is new
    assert infos(sup)["a"] == ChildInfo("a", RestartPolicy.permanent, restarts=1, generation=1, alive=True)
    assert [event[0] for event in events(sup)] == ["down", "restarted"]


def test_terminate_start_and_get_child(start_supervisor: Callable[..., Ref]) -> None:
    sup = start_supervisor(toy("a"))
    a = child(sup, "a")
    assert a is not None

    with pytest.raises(ValueError, match="already exists"):
        sup.ask(StartChild(toy("a")))
    b = sup.ask(StartChild(toy("b", RestartPolicy.transient)))
    assert child(sup, "b") is b
    assert child(sup, "nobody") is None

    sup.ask(TerminateChild("a"))
    sup.ask(TerminateChild("nobody"))
    assert not a.is_alive()
    assert child(sup, "a") is None
    assert list(infos(sup)) == ["b"]
    assert events(sup) == []  # a stop made by the supervisor is no exit to handle

    again = sup.ask(StartChild(toy("a")), block=True)  # the name is free again, with a new generation
    assert again.ask("context", block=True).generation == 1


def test_start_child_that_fails_is_not_added(start_supervisor: Callable[..., Ref]) -> None:
    def start(ctx: ChildContext) -> Ref:
        raise OSError("nope")

    sup = start_supervisor()
    with pytest.raises(OSError, match="nope"):
        sup.ask(StartChild(ChildSpec("a", start)))
    assert infos(sup) == {}


def test_stop_stops_children_in_reverse_order(start_supervisor: Callable[..., Ref]) -> None:
    log: list[str] = []
    sup = start_supervisor(toy("a", log=log), toy("b", log=log))
    sup.ask(StartChild(toy("c", log=log)))
    a = child(sup, "a")
    assert a is not None
    a.tell("raise")
    restarted(sup, "a", a)  # a restarted child keeps its place

    sup.stop()
    assert log == ["c", "b", "a"]


def test_one_for_one_leaves_siblings_alone(start_supervisor: Callable[..., Ref]) -> None:
    sup = start_supervisor(toy("a"), toy("b"))
    a = child(sup, "a")
    b = child(sup, "b")
    assert a is not None
    assert b is not None
    a.tell("raise")
    restarted(sup, "a", a)
    assert child(sup, "b") is b
    assert b.ask("context", block=True).generation == 0
    assert infos(sup)["b"] == ChildInfo("b", RestartPolicy.permanent, restarts=0, generation=0, alive=True)


def test_child_that_ignores_stop_does_not_hang_the_supervisor(
    start_supervisor: Callable[..., Ref], caplog: pytest.LogCaptureFixture
) -> None:
    sup = start_supervisor(toy("slow", stop_timeout=0.1))
    slow = child(sup, "slow")
    assert slow is not None
    slow.tell(("sleep", 0.6))

    started = time.monotonic()
    sup.stop()
    assert time.monotonic() - started < 0.5
    assert "did not stop within 0.1 s" in caplog.text
    wait_until(lambda: not slow.is_alive())


def test_failed_initial_start_stops_the_started_children(caplog: pytest.LogCaptureFixture) -> None:
    log: list[str] = []

    def fail(ctx: ChildContext) -> Ref:
        raise OSError("no engine")

    sup = Supervisor.start([toy("a", log=log), ChildSpec("b", fail), toy("c", log=log)])
    wait_until(lambda: not sup.is_alive())
    assert log == ["a"]
    assert "no engine" in caplog.text


def test_duplicate_initial_names_fail_the_start() -> None:
    log: list[str] = []
    sup = Supervisor.start([toy("a", log=log), toy("a", log=log)])
    wait_until(lambda: not sup.is_alive())
    assert log == ["a"]


def test_unknown_messages(start_supervisor: Callable[..., Ref]) -> None:
    log: list[str] = []
    sup = start_supervisor(toy("a", log=log))
    assert events(sup) == []  # a subclass's own message
    with pytest.raises(TypeError, match="unexpected message"):
        sup.ask("what")
    assert sup.is_alive()

    sup.tell("what")  # a crash of the supervisor itself: its children are stopped too
    wait_until(lambda: not sup.is_alive())
    assert log == ["a"]


def test_a_raising_hook_is_logged_and_ignored(
    start_supervisor: Callable[..., Ref], caplog: pytest.LogCaptureFixture
) -> None:
    class BadHooks(Supervisor):
        def on_child_down(self, name: str, reason: BaseException | None) -> None:
            raise RuntimeError("hook bug")

    sup = start_supervisor(toy("a"), cls=BadHooks)
    old = child(sup, "a")
    assert old is not None
    old.tell("raise")
    restarted(sup, "a", old)
    assert "hook on_child_down raised" in caplog.text


def test_unsupervised_child_and_dead_supervisor() -> None:
    alone = Toy.start(None)
    alone.tell(("crash", RuntimeError("nobody listens")))
    wait_until(lambda: not alone.is_alive())

    dead = Supervisor.start()
    dead.stop()
    orphan = Toy.start(ChildContext(dead, "orphan", 0))
    assert orphan.stop() is True  # its report to the dead supervisor is dropped quietly

    raising = Toy.start(ChildContext(dead, "orphan", 1))
    raising.tell("raise")
    wait_until(lambda: not raising.is_alive())
