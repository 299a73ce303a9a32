"""``CallRunner``: user code off the actors' threads, at most ``limit`` at once, each call within its timeout.

Real threads, a real event loop and real ``Timers``: every call's ``done`` comes exactly once (finished,
raised, timed out, or refused once closed); the bound holds for plain functions and coroutines alike, also for a
plain function abandoned at its timeout; waiting counts toward the timeout; a closed runner settles what it
still holds, and an idle one keeps no thread.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from codex_actors.actors import _calls
from codex_actors.actors._calls import CallRunner, Finished, Outcome, Raised, TimedOut
from codex_actors.actors._timers import Timers
from tests.support.waiting import wait_until


class Outcomes:
    """Collects ``done`` calls: every outcome by key, and how many times each key was reported."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.got: dict[Any, list[Outcome]] = {}

    def done(self, key: Any) -> Callable[[Outcome], None]:
        def report(outcome: Outcome) -> None:
            with self.lock:
                self.got.setdefault(key, []).append(outcome)

        return report

    def wait(self, *keys: Any, timeout: float = 10.0) -> list[Outcome]:
        wait_until(lambda: all(key in self.got for key in keys), f"outcomes of {keys}", timeout)
        with self.lock:
            return [self.got[key][0] for key in keys]

    def assert_once(self) -> None:
        with self.lock:
            assert {key: len(outcomes) for key, outcomes in self.got.items() if len(outcomes) != 1} == {}


class Overlap:
    """Records how many calls run at once (the high-water mark)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def enter(self) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def leave(self) -> None:
        with self.lock:
            self.now -= 1


@pytest.fixture
def timers() -> Iterator[Timers]:
    timers = Timers("test-timers")
    yield timers
    timers.close()


@pytest.fixture
def outcomes() -> Outcomes:
    return Outcomes()


@pytest.fixture
def runner(timers: Timers) -> Iterator[CallRunner]:
    runner = CallRunner("test", 3, timers)
    yield runner
    runner.close()


def test_a_plain_function_and_a_coroutine_finish_off_the_callers_thread(
    runner: CallRunner, outcomes: Outcomes
) -> None:
    caller = threading.get_ident()
    seen: dict[str, int] = {}

    def plain(a: int, b: int) -> int:
        seen["plain"] = threading.get_ident()
        return a + b

    async def coroutine(a: int) -> int:
        seen["coroutine"] = threading.get_ident()
        await asyncio.sleep(0.01)
        return a * 2

    runner.run(plain, (1, 2), timeout_s=5, done=outcomes.done("plain"))
    runner.run(coroutine, (21,), timeout_s=5, done=outcomes.done("coroutine"))
    assert outcomes.wait("plain", "coroutine") == [Finished(3), Finished(42)]
    assert caller not in seen.values()
    outcomes.assert_once()


def test_an_exception_is_the_outcome_and_the_runner_goes_on(runner: CallRunner, outcomes: Outcomes) -> None:
    error = ValueError("boom")

    def fails() -> None:
        raise error

    async def fails_async() -> None:
        raise KeyError("k")

    def exits() -> None:
        raise SystemExit(3)  # even a BaseException is only this call's outcome

    runner.run(fails, (), timeout_s=5, done=outcomes.done("plain"))
    runner.run(fails_async, (), timeout_s=5, done=outcomes.done("async"))
    runner.run(exits, (), timeout_s=5, done=outcomes.done("exit"))
    plain, failed_async, exited = outcomes.wait("plain", "async", "exit")
    assert plain == Raised(error)
    assert isinstance(failed_async, Raised) and isinstance(failed_async.error, KeyError)
    assert isinstance(exited, Raised) and isinstance(exited.error, SystemExit)
    runner.run(lambda: "next", (), timeout_s=5, done=outcomes.done("next"))
    assert outcomes.wait("next") == [Finished("next")]
    outcomes.assert_once()


def test_a_hung_call_times_out_a_coroutine_is_cancelled_and_a_plain_one_keeps_its_slot(
    runner: CallRunner, outcomes: Outcomes
) -> None:
    release = threading.Event()
    cancelled = threading.Event()

    def hangs() -> str:
        release.wait(10)
        return "late"

    async def hangs_async() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    runner.run(hangs, (), timeout_s=0.2, done=outcomes.done("plain"))
    runner.run(hangs_async, (), timeout_s=0.2, done=outcomes.done("async"))
    assert outcomes.wait("plain", "async") == [TimedOut(0.2), TimedOut(0.2)]
    assert cancelled.wait(5)
    # The cancelled coroutine gave its slot back; the abandoned plain function holds its own.
    wait_until(lambda: runner.running == 1, "the cancelled coroutine gave its slot back")
    release.set()
    wait_until(lambda: runner.running == 0, "the abandoned function returned")
    time.sleep(0.05)
    outcomes.assert_once()  # its late return was not reported


@pytest.mark.parametrize("kind", ["plain", "async"])
def test_at_most_limit_calls_run_at_once_and_the_rest_wait_in_order(
    timers: Timers, outcomes: Outcomes, kind: str
) -> None:
    overlap = Overlap()
    order: list[int] = []

    def plain(index: int) -> int:
        overlap.enter()
        order.append(index)
        time.sleep(0.05)
        overlap.leave()
        return index

    async def coroutine(index: int) -> int:
        overlap.enter()
        order.append(index)
        await asyncio.sleep(0.05)
        overlap.leave()
        return index

    runner = CallRunner("bounded", 3, timers)
    try:
        fn = plain if kind == "plain" else coroutine
        for index in range(12):
            runner.run(fn, (index,), timeout_s=10, done=outcomes.done(index))
        assert outcomes.wait(*range(12)) == [Finished(index) for index in range(12)]
    finally:
        runner.close()
    assert overlap.peak == 3
    assert order == list(range(12))
    outcomes.assert_once()


def test_plain_functions_and_coroutines_share_the_bound(timers: Timers, outcomes: Outcomes) -> None:
    overlap = Overlap()

    def plain() -> None:
        overlap.enter()
        time.sleep(0.05)
        overlap.leave()

    async def coroutine() -> None:
        overlap.enter()
        await asyncio.sleep(0.05)
        overlap.leave()

    runner = CallRunner("mixed", 2, timers)
    try:
        for index in range(10):
            runner.run(plain if index % 2 else coroutine, (), timeout_s=10, done=outcomes.done(index))
        outcomes.wait(*range(10))
    finally:
        runner.close()
    assert overlap.peak == 2
    outcomes.assert_once()


def test_an_abandoned_plain_function_keeps_its_slot_so_the_bound_on_threads_holds(
    timers: Timers, outcomes: Outcomes
) -> None:
    release = threading.Event()
    runner = CallRunner("one", 1, timers)
    try:
        runner.run(lambda: release.wait(10), (), timeout_s=0.1, done=outcomes.done("hung"))
        assert outcomes.wait("hung") == [TimedOut(0.1)]
        runner.run(lambda: "second", (), timeout_s=5, done=outcomes.done("second"))
        time.sleep(0.1)
        assert "second" not in outcomes.got and runner.waiting == 1  # no second thread was started
        release.set()
        assert outcomes.wait("second") == [Finished("second")]
    finally:
        runner.close()


def test_time_spent_waiting_for_a_slot_counts_toward_the_timeout(timers: Timers, outcomes: Outcomes) -> None:
    release = threading.Event()
    ran = threading.Event()
    runner = CallRunner("one", 1, timers)
    try:
        runner.run(lambda: release.wait(10), (), timeout_s=10, done=outcomes.done("busy"))
        runner.run(ran.set, (), timeout_s=0.2, done=outcomes.done("waiting"))
        assert outcomes.wait("waiting") == [TimedOut(0.2)]
        release.set()
        outcomes.wait("busy")
        time.sleep(0.05)
        assert not ran.is_set()  # timed out while waiting: never run
    finally:
        runner.close()


def test_close_fails_the_waiting_calls_and_a_running_coroutine_and_refuses_new_ones(
    timers: Timers, outcomes: Outcomes
) -> None:
    release = threading.Event()

    async def hangs() -> None:
        await asyncio.sleep(10)

    runner = CallRunner("closing", 2, timers)
    runner.run(lambda: release.wait(10), (), timeout_s=None, done=outcomes.done("running"))
    runner.run(hangs, (), timeout_s=None, done=outcomes.done("coroutine"))
    runner.run(lambda: "never", (), timeout_s=None, done=outcomes.done("waiting"))
    wait_until(lambda: runner.running == 2 and runner.waiting == 1, "two running, one waiting")
    runner.close()
    waiting, coroutine = outcomes.wait("waiting", "coroutine")
    assert isinstance(waiting, Raised) and "closed" in str(waiting.error)
    assert isinstance(coroutine, Raised) and "closed" in str(coroutine.error)
    runner.run(lambda: "late", (), timeout_s=None, done=outcomes.done("late"))
    (late,) = outcomes.wait("late")
    assert isinstance(late, Raised) and "closed" in str(late.error)
    release.set()
    assert outcomes.wait("running") == [Finished(True)]  # a running function ends on its own
    outcomes.assert_once()


def test_a_done_callback_that_raises_is_logged_and_the_runner_goes_on(
    runner: CallRunner, outcomes: Outcomes, caplog: pytest.LogCaptureFixture
) -> None:
    def bad_done(outcome: Outcome) -> None:
        raise RuntimeError("the reporter broke")

    runner.run(lambda: 1, (), timeout_s=5, done=bad_done)
    runner.run(lambda: 2, (), timeout_s=5, done=outcomes.done("after"))
    assert outcomes.wait("after") == [Finished(2)]
    wait_until(lambda: "reporting the end of a call raised" in caplog.text, "the log")


def test_idle_workers_end_and_new_work_starts_new_ones(
    timers: Timers, outcomes: Outcomes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_calls, "IDLE_S", 0.1)

    def workers() -> list[threading.Thread]:
        return [thread for thread in threading.enumerate() if thread.name == "codex-actors-idle"]

    runner = CallRunner("idle", 4, timers)
    try:
        for index in range(4):
            runner.run(time.sleep, (0.05,), timeout_s=5, done=outcomes.done(index))
        outcomes.wait(*range(4))
        assert all(thread.daemon for thread in workers())
        wait_until(lambda: not workers(), "idle workers ended")
        runner.run(lambda: "again", (), timeout_s=5, done=outcomes.done("again"))
        assert outcomes.wait("again") == [Finished("again")]
    finally:
        runner.close()


def test_many_calls_from_many_threads_each_report_once_within_the_bound(
    timers: Timers, outcomes: Outcomes
) -> None:
    overlap = Overlap()

    def work(index: int) -> int:
        overlap.enter()
        time.sleep(0.001)
        overlap.leave()
        return index

    async def work_async(index: int) -> int:
        overlap.enter()
        await asyncio.sleep(0.001)
        overlap.leave()
        return index

    runner = CallRunner("many", 8, timers)
    try:

        def submit(start: int) -> None:
            for index in range(start, start + 100):
                runner.run(work if index % 3 else work_async, (index,), timeout_s=30, done=outcomes.done(index))

        submitters = [threading.Thread(target=submit, args=(start,)) for start in range(0, 1000, 100)]
        for thread in submitters:
            thread.start()
        for thread in submitters:
            thread.join()
        got = outcomes.wait(*range(1000), timeout=30)
    finally:
        runner.close()
    assert got == [Finished(index) for index in range(1000)]
    assert overlap.peak <= 8
    outcomes.assert_once()


def test_a_limit_below_one_is_refused(timers: Timers) -> None:
    with pytest.raises(ValueError, match="limit"):
        CallRunner("bad", 0, timers)
