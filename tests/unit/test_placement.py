"""Placement in an engine pool: the directory's loads and memory, and the routing rules of ``_placement``."""

from __future__ import annotations

import gc

import pytest

from codex_actors._placement import Placement, every_engine, route, thread_of
from codex_actors.actors import _directory
from codex_actors.actors._directory import ThreadDirectory
from codex_actors.errors import InvalidRequestError, ServerBusyError, TransportClosedError

OVERLOADED = ServerBusyError(-32001, "Server overloaded; retry later.", None)
HELD_ELSEWHERE = InvalidRequestError(-32600, "thread t already has an active writer", None)


def test_new_threads_go_to_the_least_loaded_engine_in_turn() -> None:
    directory = ThreadDirectory(engines=3)
    addresses = []
    for index in range(9):
        engine = directory.reserve()
        addresses.append(directory.mark_loaded(f"t{index}", 0, engine))
        directory.unreserve(engine)
    assert directory.loads() == [3, 3, 3]
    del addresses[:3]  # one thread of each engine goes: each engine has one fewer in use
    gc.collect()
    assert directory.loads() == [2, 2, 2]


def test_starts_under_way_count_so_simultaneous_starts_spread() -> None:
    directory = ThreadDirectory(engines=4)
    engines = [directory.reserve() for _ in range(8)]
    assert sorted(engines) == [0, 0, 1, 1, 2, 2, 3, 3]
    for engine in engines:
        directory.unreserve(engine)
    assert directory.reserve(exclude=[0, 1, 2]) == 3
    assert directory.reserve(exclude=[0, 1, 2, 3]) in range(4)  # every engine excluded: any


def test_a_thread_is_remembered_on_its_engine_past_its_entry_and_forgotten_when_that_engine_dies() -> None:
    directory = ThreadDirectory(engines=2)
    address = directory.mark_loaded("t", 0, 1)
    del address
    gc.collect()
    assert directory.find("t") is None
    assert directory.engine_of("t") == 1
    entry = directory.entry("t")
    assert directory.place(entry) == 1  # an actor started for it goes back to its engine
    del entry
    gc.collect()
    directory.engine_restarted(1)
    assert directory.generations == [0, 1]
    assert directory.engine_of("t") is None  # nothing is loaded there any more: it may go anywhere


def test_the_memory_of_placements_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_directory, "PLACEMENTS_KEPT", 3)
    directory = ThreadDirectory(engines=2)
    for index in range(5):
        directory.mark_loaded(f"t{index}", 0, index % 2)
    gc.collect()
    assert [directory.engine_of(f"t{index}") for index in range(5)] == [None, None, 0, 1, 0]


def test_a_thread_moved_to_another_engine_counts_there_only() -> None:
    directory = ThreadDirectory(engines=2)
    address = directory.mark_loaded("t", 0, 0)
    directory.mark_loaded("t", 0, 1)
    assert directory.loads() == [0, 1]
    assert directory.generation_of(address._entry) == 0


def test_without_a_pool_everything_is_engine_0() -> None:
    directory = ThreadDirectory()
    assert directory.engines == 1
    assert directory.reserve() == 0
    directory.unreserve(0)
    entry = directory.entry("t")
    assert directory.place(entry) == 0
    assert directory.loads() == [0]  # a single engine keeps no load
    assert route(directory, {"threadId": "t"}) == 0
    placement = Placement(directory, "thread/start", {})
    assert placement.engine == 0
    assert not placement.spill(OVERLOADED)
    placement.release()


def test_requests_naming_a_thread_go_to_its_engine_and_others_to_the_first() -> None:
    directory = ThreadDirectory(engines=3)
    address = directory.mark_loaded("t", 0, 2)
    assert route(directory, {"threadId": "t"}) == 2
    assert route(directory, {"threadId": "unknown"}) == 0
    assert route(directory, {}) == 0
    assert route(directory, None) == 0
    assert thread_of({"threadId": 3}) is None
    del address


def test_only_api_key_logins_and_logouts_go_to_every_engine() -> None:
    assert every_engine("account/login/start", {"type": "apiKey", "apiKey": "k"})
    assert every_engine("account/logout", None)
    assert not every_engine("account/login/start", {"type": "chatgpt"})
    assert not every_engine("account/read", {})


def test_a_new_thread_spills_on_overload_each_engine_once() -> None:
    directory = ThreadDirectory(engines=3)
    placement = Placement(directory, "thread/start", {})
    tried = [placement.engine]
    assert not placement.spill(TransportClosedError("gone"))  # only "overloaded" moves a start on
    while placement.spill(OVERLOADED):
        tried.append(placement.engine)
    assert sorted(tried) == [0, 1, 2]
    placement.release()
    placement.release()  # idempotent
    assert directory.reserve() in range(3)


def test_a_resume_spills_only_when_another_engine_holds_the_thread() -> None:
    directory = ThreadDirectory(engines=2)
    placement = Placement(directory, "thread/resume", {"threadId": "t"})
    assert not placement.spill(OVERLOADED)  # a resume is not a new thread: overloaded is the caller's to retry
    assert placement.spill(HELD_ELSEWHERE)
    assert not placement.spill(HELD_ELSEWHERE)  # both tried
    placement.release()


def test_a_known_thread_is_opened_on_its_engine() -> None:
    directory = ThreadDirectory(engines=2)
    address = directory.mark_loaded("t", 0, 1)
    placement = Placement(directory, "thread/fork", {"threadId": "t"})
    assert placement.engine == 1
    assert placement.spill(OVERLOADED)  # a fork makes a new thread: another engine may take it
    assert placement.engine == 0
    placement.release()
    del address
