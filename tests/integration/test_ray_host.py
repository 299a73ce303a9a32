"""The Ray thread host (``codex_actors._ray_host``) and its wire errors, in this process: no Ray at all.

``codex_actors.ray`` makes :class:`ThreadHost` a Ray actor; Ray's workers are other processes, where coverage
does not follow, so the host's own logic is driven here directly (``call`` as Ray would), on the REAL engine and
the scripted model. A Ray restart is played by a second host of the same name and ``CODEX_HOME`` built with
``reconstructed=True`` while (or after) the first one's engine holds the thread.
"""

from __future__ import annotations

import pickle
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from codex_actors import ApprovalMode, CodexConfig
from codex_actors._ray_host import (
    RECORD_DIR,
    HostInfo,
    ThreadHost,
    codex_home,
    read_record,
    record_path,
    write_record,
)
from codex_actors._ray_wire import MAX_CAUSES, WireError, wire_error
from codex_actors._results import TurnResult
from codex_actors.errors import (
    InvalidRequestError,
    JsonRpcError,
    RequestTimeoutError,
    TransportClosedError,
    TurnTimeoutError,
    UnknownThreadError,
)
from codex_actors.testing import Gate, OfflineEngine, message, reply
from codex_actors.types import TurnStatus
from tests.support.waiting import wait_until

DENY = {"approval_mode": ApprovalMode.deny_all}


@pytest.fixture(scope="module")
def offline() -> Iterator[OfflineEngine]:
    with OfflineEngine(default=message("ok")) as engine:
        yield engine


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def ok(value: Any) -> Any:
    """A call's answer that must not be an error."""
    assert not isinstance(value, WireError), value.rebuild() if isinstance(value, WireError) else value
    return value


def error_of(value: Any) -> BaseException:
    """A call's answer that must be an error: rebuilt, as the caller would raise it."""
    assert isinstance(value, WireError), value
    wired = pickle.loads(pickle.dumps(value))  # it crosses the wire
    assert isinstance(wired, WireError)
    return wired.rebuild("in the test host")


def hosted(offline: OfflineEngine, name: str | None = None, **kwargs: Any) -> ThreadHost:
    return ThreadHost(name or unique("host"), "ns", offline.config, None, DENY, **kwargs)


def drop_engine(host: ThreadHost) -> None:
    """The host's process "dies": its client closes, its record stays (a Ray worker killed -9, played here)."""
    assert host._codex is not None
    host._codex.close()


# -- errors on the wire ------------------------------------------------------------------------------------------


class TwoArguments(Exception):
    def __init__(self, first: str, second: int) -> None:
        super().__init__(f"{first}/{second}")
        self.first, self.second = first, second


class WithState(Exception):
    unpicklable: Any = None


class OddNew(Exception):
    def __new__(cls, *args: Any) -> OddNew:
        if args and args[0] == "refuse":
            raise TypeError("refused")
        return super().__new__(cls, *args)


@pytest.mark.parametrize(
    "error",
    [
        UnknownThreadError(-32600, "no rollout found for thread id t", {"x": 1}, thread_id="t"),
        RequestTimeoutError("thread/read", 2.5),
        TurnTimeoutError("turn-1", 3.0),
        TransportClosedError("gone", exit_code=9, stderr_tail="tail"),
        TwoArguments("a", 2),
    ],
    ids=lambda error: type(error).__name__,
)
def test_an_error_crosses_the_wire_as_its_own_class_with_its_attributes_and_the_hosts_traceback(
    error: BaseException,
) -> None:
    try:
        raise error
    except BaseException as raised:
        wired = wire_error(raised)
    rebuilt = pickle.loads(pickle.dumps(wired)).rebuild("in the Ray host 'h'")
    assert type(rebuilt) is type(error)
    assert rebuilt.args == error.args and str(rebuilt) == str(error)
    assert {k: v for k, v in vars(rebuilt).items() if k != "__notes__"} == vars(error)
    assert rebuilt.__notes__[-1].startswith("raised in the Ray host 'h':\nTraceback")
    assert "raise error" in rebuilt.__notes__[-1]


def test_causes_travel_bounded_and_what_does_not_pickle_travels_as_its_repr() -> None:
    error = WithState("top")
    chain: BaseException = error
    for depth in range(MAX_CAUSES + 3):
        chain.__cause__ = KeyError(f"cause {depth}")
        chain = chain.__cause__
    error.unpicklable = threading.Lock()
    rebuilt = pickle.loads(pickle.dumps(wire_error(error))).rebuild()
    assert isinstance(rebuilt, WithState) and rebuilt.unpicklable.startswith("<unlocked _thread.lock")
    causes = []
    link = rebuilt.__cause__
    while link is not None:
        causes.append(str(link))
        link = link.__cause__
    assert causes == [repr(f"cause {depth}") for depth in range(MAX_CAUSES)]
    assert not hasattr(rebuilt, "__notes__")  # no "where": no note


def test_a_class_that_cannot_be_rebuilt_comes_back_as_a_runtime_error_naming_it() -> None:
    def local() -> type[Exception]:
        class Local(Exception):  # not importable: pickle cannot name it
            pass

        return Local

    assert type(wire_error(local()("x")).rebuild()) is RuntimeError
    rebuilt = WireError(OddNew, ("refuse",), {}, "tb").rebuild()
    assert type(rebuilt) is RuntimeError and "OddNew" in str(rebuilt)
    assert type(WireError(OddNew, ("fine",), {}, "tb").rebuild()) is OddNew
    args_unpicklable = wire_error(ValueError(threading.Lock()))
    assert args_unpicklable.args[0].startswith("<unlocked")


# -- records --------------------------------------------------------------------------------------------------


def test_records_live_under_the_codex_home_whatever_the_name(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for name in ("plain", "a/b", "..", ".", "x y"):
        path = record_path(home, "ns/..", name)
        assert path.resolve().is_relative_to((home / RECORD_DIR).resolve())
        assert path.parent.parent == home / RECORD_DIR
    assert read_record(home / "missing.json") is None
    path = record_path(home, "ns", "n")
    write_record(path, "thread-1")
    assert read_record(path) == "thread-1"
    for garbage in ("not json", "[1]", '{"thread_id": 3}', '{"thread_id": ""}'):
        path.write_text(garbage)
        assert read_record(path) is None
    assert codex_home(CodexConfig(env={"CODEX_HOME": "/a"}), {"CODEX_HOME": "/b"}) == Path("/a")
    assert codex_home(None, {"CODEX_HOME": "/b"}) == Path("/b")
    assert codex_home(CodexConfig(), {}) == Path.home() / ".codex"


# -- a host's calls ---------------------------------------------------------------------------------------------


def test_a_host_starts_its_thread_records_it_and_answers_every_call(offline: OfflineEngine) -> None:
    host = hosted(offline)
    try:
        info = ok(host.call("info"))
        assert isinstance(info, HostInfo) and info.thread_id and not info.reconstructed
        assert repr(host) == f"ThreadHost(name={info.name!r}, namespace='ns', thread_id={info.thread_id!r})"
        thread_id = info.thread_id
        assert read_record(record_path(offline.codex_home, "ns", info.name)) == thread_id

        result = ok(host.call("run", thread_id, "hello", {}))
        assert isinstance(result, TurnResult) and result.final_response == "ok"

        turn_id = ok(host.call("start_turn", thread_id, "stream", {}))
        events, offset, ended = [], 0, False
        while not ended:
            batch, ended = ok(host.call("events", thread_id, turn_id, offset, 2, 10.0))
            if batch:  # asked again from the same offset (an answer lost on the way): the same batch
                assert ok(host.call("events", thread_id, turn_id, offset, 2, 10.0)) == (batch, ended)
            offset += len(batch)
            events.extend(batch)
        assert events[-1].method == "turn/completed" and len(events) > 2
        assert isinstance(error_of(host.call("events", thread_id, turn_id, offset + 5)), TransportClosedError)
        result = ok(host.call("turn_result", thread_id, turn_id))
        assert result.id == turn_id and ok(host.call("turn_result", thread_id, turn_id)) == result

        assert ok(host.call("read", thread_id, True)).thread.id == thread_id
        ok(host.call("set_name", thread_id, "named"))
        assert ok(host.call("read", thread_id)).thread.name == "named"
        assert isinstance(error_of(host.call("steer", thread_id, "nope", "x")), TransportClosedError)
        assert isinstance(error_of(host.call("interrupt", thread_id, "nope")), TransportClosedError)
        assert isinstance(error_of(host.call("__init__")), AttributeError)
        stray = error_of(host.call("read", "another-thread"))
        assert isinstance(stray, UnknownThreadError) and stray.thread_id == "another-thread"
    finally:
        ok(host.call("shutdown"))
    assert not record_path(offline.codex_home, "ns", info.name).exists()
    assert isinstance(error_of(host.call("read", thread_id)), TransportClosedError)
    host.shutdown()  # idempotent


def test_a_turn_is_waited_for_within_a_bound_steered_interrupted_and_its_timeout_raised(
    offline: OfflineEngine,
) -> None:
    host = hosted(offline)
    try:
        thread_id = ok(host.call("info")).thread_id
        gate = Gate()
        offline.model.enqueue(reply(message("never"), gate))
        turn_id = ok(host.call("start_turn", thread_id, "hold", {}))
        assert gate.reached.wait(30)
        offset = 0
        while batch := ok(host.call("events", thread_id, turn_id, offset, 100, 0.3))[0]:
            offset += len(batch)  # what came before the gate
        assert ok(host.call("events", thread_id, turn_id, offset, 100, 0.05)) == ([], False)  # nothing new
        ok(host.call("steer", thread_id, turn_id, "more"))
        ok(host.call("interrupt", thread_id, turn_id))
        gate.open()
        assert ok(host.call("turn_result", thread_id, turn_id)).status == TurnStatus.interrupted
    finally:
        host.shutdown()

    # A turn that ran past CodexConfig.turn_timeout_s: its TurnTimeoutError (a TimeoutError) is the turn's
    # error, not "nothing came within the wait".
    import dataclasses

    timed = ThreadHost(unique("timed"), "ns", dataclasses.replace(offline.config, turn_timeout_s=3.0), None, DENY)
    try:
        thread_id = ok(timed.call("info")).thread_id
        gate = Gate()
        offline.model.enqueue(reply(message("late"), gate))
        turn_id = ok(timed.call("start_turn", thread_id, "slow", {}))
        assert gate.reached.wait(30)  # the model took the reply: it is held there past the turn's timeout
        offset, failure = 0, None
        while failure is None:
            answer = timed.call("events", thread_id, turn_id, offset, 100, 5.0)
            if isinstance(answer, WireError):
                failure = error_of(answer)
            else:
                offset += len(answer[0])
        gate.open()
        assert isinstance(failure, TurnTimeoutError)
        assert isinstance(error_of(timed.call("turn_result", thread_id, turn_id)), TurnTimeoutError)
    finally:
        timed.shutdown()


def test_a_host_holds_at_most_its_bound_of_turns_dropping_the_oldest_ended(offline: OfflineEngine) -> None:
    host = hosted(offline, max_turns=2)
    try:
        thread_id = ok(host.call("info")).thread_id
        turns = []
        for index in range(4):
            turns.append(ok(host.call("start_turn", thread_id, f"turn {index}", {})))
            wait_until(lambda: host._turns[turns[-1]].done(), f"turn {index} ended", 30)
        assert host.held_turns == turns[-2:]
        dropped = error_of(host.call("turn_result", thread_id, turns[0]))
        assert isinstance(dropped, TransportClosedError) and "let it go" in str(dropped)
        assert ok(host.call("turn_result", thread_id, turns[-1])).final_response == "ok"
        # None ended: the oldest goes all the same (the bound holds).
        gate = Gate()
        offline.model.enqueue(reply(message("held"), gate))
        running = ok(host.call("start_turn", thread_id, "held", {}))
        assert gate.reached.wait(30)
        host._max_turns = 0
        host._evict()
        assert running not in host.held_turns and host.held_turns == []
        gate.open()
    finally:
        host.shutdown()


# -- restarts ---------------------------------------------------------------------------------------------------


def test_a_restarted_host_resumes_the_recorded_thread_once_the_old_engine_lets_go(offline: OfflineEngine) -> None:
    name = unique("restart")
    first = hosted(offline, name)
    thread_id = ok(first.call("info")).thread_id
    ok(first.call("run", thread_id, "before", {}))
    # The old engine still writes the thread for a moment: the new host's resume is refused ("active writer")
    # and retried until it lets go.
    timer = threading.Timer(0.5, drop_engine, (first,))
    timer.start()
    second = ThreadHost(name, "ns", offline.config, None, DENY, reconstructed=True)
    timer.join()
    try:
        info = ok(second.call("info"))
        assert (info.thread_id, info.reconstructed) == (thread_id, True)
        history = ok(second.call("read", thread_id, True))
        assert [turn.status for turn in history.thread.turns] == [TurnStatus.completed]
        assert ok(second.call("run", thread_id, "after", {})).final_response == "ok"
    finally:
        second.shutdown()
        first.shutdown()


def test_a_resume_refused_past_its_bound_is_the_hosts_error_until_a_call_resumes_it(
    offline: OfflineEngine,
) -> None:
    name = unique("refused")
    first = hosted(offline, name)
    thread_id = ok(first.call("info")).thread_id
    ok(first.call("run", thread_id, "before", {}))
    second = ThreadHost(name, "ns", offline.config, None, DENY, reconstructed=True, resume_within_s=0.2)
    try:
        refused = error_of(second.call("info"))
        assert isinstance(refused, InvalidRequestError) and "active writer" in refused.message
        drop_engine(first)
        # The next call names the thread: the host resumes it then.
        assert ok(second.call("read", thread_id)).thread.id == thread_id
    finally:
        second.shutdown()
        first.shutdown()


def test_a_recorded_thread_with_no_history_is_replaced_and_the_new_one_answers_for_the_old_id(
    offline: OfflineEngine,
) -> None:
    name = unique("empty")
    first = hosted(offline, name)
    old_id = ok(first.call("info")).thread_id  # no turn: no rollout to resume from
    drop_engine(first)
    second = ThreadHost(name, "ns", offline.config, None, DENY, reconstructed=True)
    try:
        new_id = ok(second.call("info")).thread_id
        assert new_id != old_id
        assert read_record(record_path(offline.codex_home, "ns", name)) == new_id
        assert ok(second.call("run", old_id, "to the old id", {})).final_response == "ok"
    finally:
        second.shutdown()
        first.shutdown()


def test_a_restart_before_the_thread_was_recorded_takes_the_id_from_the_first_call(
    offline: OfflineEngine,
) -> None:
    owner = hosted(offline)
    thread_id = ok(owner.call("info")).thread_id
    ok(owner.call("run", thread_id, "history", {}))
    owner.shutdown()
    host = ThreadHost(unique("unrecorded"), "ns", offline.config, None, DENY, reconstructed=True)
    try:
        unknown = error_of(host.call("info"))
        assert isinstance(unknown, TransportClosedError) and "does not know its thread" in str(unknown)
        assert ok(host.call("read", thread_id, True)).thread.id == thread_id
        assert ok(host.call("info")).thread_id == thread_id
    finally:
        host.shutdown()


def test_an_unknown_id_or_a_client_that_cannot_start_is_the_hosts_error(offline: OfflineEngine) -> None:
    unknown = ThreadHost(unique("unknown"), "ns", offline.config, str(uuid.uuid4()), DENY)
    try:
        error = error_of(unknown.call("info"))
        assert type(error) is UnknownThreadError and isinstance(error.__cause__, JsonRpcError)
        assert isinstance(error_of(unknown.call("read", error.thread_id)), UnknownThreadError)
    finally:
        unknown.shutdown()
    broken = ThreadHost(unique("broken"), "ns", CodexConfig(codex_bin="/nonexistent/codex"), None, {})
    first = error_of(broken.call("info"))
    assert type(error_of(broken.call("read", "any"))) is type(first)
    broken.shutdown()


def test_hosts_started_at_once_on_a_fresh_codex_home_all_start(tmp_path: Path) -> None:
    """The engines race to create the new home's state database; the losers' hosts start their client again."""
    with OfflineEngine(default=message("ok"), root=tmp_path / "fresh") as fresh:
        with ThreadPoolExecutor(8) as pool:
            hosts = list(pool.map(lambda index: hosted(fresh, f"fresh-{index}"), range(8)))
        try:
            assert [host._error for host in hosts] == [None] * 8
        finally:
            for host in hosts:
                host.shutdown()
