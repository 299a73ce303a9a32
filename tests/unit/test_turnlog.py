"""TurnLog: one writer, many cursors, retain/prune, the end of the log, timeouts, wakers and compaction."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from codex_actors.actors._turnlog import _COMPACT_AFTER, LogClosedError, TurnLog


class Waker:
    """A waker that counts its calls and remembers the thread that made them."""

    def __init__(self) -> None:
        self.calls = 0
        self.threads: list[str] = []

    def __call__(self) -> None:
        self.calls += 1
        self.threads.append(threading.current_thread().name)


def _wait_until(predicate: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.001)


def _waiting(log: TurnLog[int]) -> int:
    return len(log._cond._waiters)  # type: ignore[attr-defined]


# -- construction and the writer ---------------------------------------------------------------------------------


def test_new_log_is_empty_open_and_retained() -> None:
    log: TurnLog[int] = TurnLog("turn-1")
    assert log.turn_id == "turn-1"
    assert len(log) == 0
    assert log.subscribers == 0
    assert not log.done


def test_extend_appends_batches_in_order() -> None:
    log: TurnLog[str] = TurnLog("t")
    sub = log.subscribe()
    log.extend(["a", "b"])
    log.extend(("c",))
    assert len(log) == 3
    assert log.take(sub) == ["a", "b", "c"]


def test_extend_with_nothing_is_a_no_op_and_wakes_nobody() -> None:
    log: TurnLog[int] = TurnLog("t")
    sub = log.subscribe()
    waker = Waker()
    assert log.take_or_wake(sub, waker) is None
    log.extend([])
    assert waker.calls == 0
    assert len(log) == 0


def test_extend_after_finish_is_ignored() -> None:
    log: TurnLog[int] = TurnLog("t")
    sub = log.subscribe()
    log.extend([1])
    log.finish()
    log.extend([2, 3])
    assert len(log) == 1
    assert log.take(sub) == [1]
    assert log.take(sub) == []


def test_extend_copies_the_batch_it_was_given() -> None:
    log: TurnLog[int] = TurnLog("t")
    sub = log.subscribe()
    batch = [1, 2]
    log.extend(batch)
    batch.append(3)
    assert log.take(sub) == [1, 2]


# -- subscribers and cursors --------------------------------------------------------------------------------------


def test_subscriber_ids_are_distinct_and_counted() -> None:
    log: TurnLog[int] = TurnLog("t")
    subs = [log.subscribe() for _ in range(5)]
    assert len(set(subs)) == 5
    assert log.subscribers == 5
    log.unsubscribe(subs[0])
    assert log.subscribers == 4


def test_every_subscriber_reads_everything_at_its_own_pace() -> None:
    log: TurnLog[int] = TurnLog("t", retain=False)
    fast, slow = log.subscribe(), log.subscribe()
    log.extend([1, 2])
    assert log.take(fast) == [1, 2]
    log.extend([3])
    assert log.take(fast) == [3]
    assert log.take(slow) == [1, 2, 3]


def test_take_returns_everything_past_the_cursor_in_one_call() -> None:
    log: TurnLog[int] = TurnLog("t")
    sub = log.subscribe()
    for i in range(10):
        log.extend([i])
    assert log.take(sub) == list(range(10))


def test_subscribe_from_start_on_a_retained_log_sees_past_events() -> None:
    log: TurnLog[int] = TurnLog("t", retain=True)
    log.extend([1, 2, 3])
    sub = log.subscribe(from_start=True)
    assert log.take(sub) == [1, 2, 3]


def test_subscribe_not_from_start_sees_only_future_events() -> None:
    log: TurnLog[int] = TurnLog("t", retain=True)
    log.extend([1, 2, 3])
    sub = log.subscribe(from_start=False)
    with pytest.raises(TimeoutError):
        log.take(sub, timeout=0)
    log.extend([4])
    assert log.take(sub) == [4]


def test_subscribe_from_start_on_a_pruned_log_starts_at_the_first_kept_event() -> None:
    log: TurnLog[int] = TurnLog("t", retain=False)
    first = log.subscribe()
    log.extend([1, 2, 3])
    assert log.take(first) == [1, 2, 3]
    log.extend([4])
    late = log.subscribe(from_start=True)
    assert log.take(late) == [4]


# -- retain and prune ---------------------------------------------------------------------------------------------


def test_retained_log_keeps_what_everyone_has_read() -> None:
    log: TurnLog[int] = TurnLog("t", retain=True)
    sub = log.subscribe()
    log.extend([1, 2, 3])
    assert log.take(sub) == [1, 2, 3]
    assert len(log) == 3


def test_unretained_log_prunes_what_every_subscriber_has_read() -> None:
    log: TurnLog[int] = TurnLog("t", retain=False)
    a, b = log.subscribe(), log.subscribe()
    log.extend([1, 2, 3])
    assert len(log) == 3
    log.take(a)
    assert len(log) == 3  # b has read nothing
    log.take(b)
    assert len(log) == 0
    log.extend([4, 5])
    log.take(b)
    assert len(log) == 2  # a has not read 4, 5
    log.take(a)
    assert len(log) == 0


def test_set_retain_false_prunes_immediately() -> None:
    log: TurnLog[int] = TurnLog("t", retain=True)
    sub = log.subscribe()
    log.extend([1, 2, 3])
    log.take(sub)
    assert len(log) == 3
    log.set_retain(False)
    assert len(log) == 0


def test_set_retain_true_stops_pruning_but_cannot_restore_pruned_events() -> None:
    log: TurnLog[int] = TurnLog("t", retain=False)
    sub = log.subscribe()
    log.extend([1, 2])
    log.take(sub)
    log.set_retain(True)
    log.extend([3, 4])
    log.take(sub)
    assert len(log) == 2
    late = log.subscribe(from_start=True)
    assert log.take(late) == [3, 4]


def test_unsubscribe_prunes_what_only_it_still_needed() -> None:
    log: TurnLog[int] = TurnLog("t", retain=False)
    reader, idle = log.subscribe(), log.subscribe()
    log.extend([1, 2, 3])
    log.take(reader)
    assert len(log) == 3
    log.unsubscribe(idle)
    assert len(log) == 0


def test_unsubscribe_is_idempotent() -> None:
    log: TurnLog[int] = TurnLog("t")
    sub = log.subscribe()
    log.unsubscribe(sub)
    log.unsubscribe(sub)
    log.unsubscribe(12345)
    assert log.subscribers == 0


# -- closed subscribers -------------------------------------------------------------------------------------------


def test_take_after_unsubscribe_raises_log_closed_error() -> None:
    log: TurnLog[int] = TurnLog("turn-9")
    sub = log.subscribe()
    log.extend([1])
    log.unsubscribe(sub)
    with pytest.raises(LogClosedError, match=f"subscriber {sub} of turn turn-9 is closed"):
        log.take(sub)


def test_take_or_wake_after_unsubscribe_raises_log_closed_error() -> None:
    log: TurnLog[int] = TurnLog("t")
    sub = log.subscribe()
    log.unsubscribe(sub)
    with pytest.raises(LogClosedError):
        log.take_or_wake(sub, Waker())


def test_closed_subscriber_raises_even_after_the_log_finished() -> None:
    log: TurnLog[int] = TurnLog("t")
    sub = log.subscribe()
    log.finish()
    log.unsubscribe(sub)
    with pytest.raises(LogClosedError):
        log.take(sub)


def test_unknown_subscriber_id_is_closed() -> None:
    log: TurnLog[int] = TurnLog("t")
    with pytest.raises(LogClosedError):
        log.take(99, timeout=0)


def test_log_closed_error_is_an_exception() -> None:
    assert issubclass(LogClosedError, Exception)


def test_unsubscribe_wakes_a_reader_blocked_in_take() -> None:
    log: TurnLog[int] = TurnLog("t")
    sub = log.subscribe()
    outcome: list[BaseException | list[int]] = []

    def reader() -> None:
        try:
            outcome.append(log.take(sub))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        _wait_until(lambda: _waiting(log) == 1)
        log.unsubscribe(sub)
        thread.join(2)
        assert not thread.is_alive(), "take() still blocked after its subscriber was removed"
        assert len(outcome) == 1 and isinstance(outcome[0], LogClosedError)
    finally:
        log.finish()  # releases the reader if it is still blocked
        thread.join(2)


def test_unsubscribe_wakes_a_reader_blocked_in_take_with_a_timeout_at_once() -> None:
    log: TurnLog[int] = TurnLog("t")
    sub = log.subscribe()
    outcome: list[tuple[BaseException, float]] = []

    def reader() -> None:
        started = time.monotonic()
        try:
            log.take(sub, timeout=5)
        except BaseException as exc:
            outcome.append((exc, time.monotonic() - started))

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    _wait_until(lambda: _waiting(log) == 1)
    log.unsubscribe(sub)
    thread.join(2)
    assert len(outcome) == 1
    error, elapsed = outcome[0]
    assert isinstance(error, LogClosedError)
    assert elapsed < 2


def test_unsubscribe_of_another_subscriber_does_not_end_a_blocked_take() -> None:
    log: TurnLog[int] = TurnLog("t")
    sub, other = log.subscribe(), log.subscribe()
    outcome: list[list[int]] = []
    thread = threading.Thread(target=lambda: outcome.append(log.take(sub, timeout=5)), daemon=True)
    thread.start()
    _wait_until(lambda: _waiting(log) == 1)
    log.unsubscribe(other)  # the notify wakes sub's reader, which goes back to waiting
    _wait_until(lambda: _waiting(log) == 1)
    assert outcome == []
    log.extend([1])
    thread.join(2)
    assert outcome == [[1]]


# -- the end of the log -------------------------------------------------------------------------------------------


def test_finish_without_error_returns_remaining_events_then_empty() -> None:
    log: TurnLog[int] = TurnLog("t")
    sub = log.subscribe()
    log.extend([1, 2])
    log.finish()
    assert log.done
    assert log.take(sub) == [1, 2]
    assert log.take(sub) == []
    assert log.take(sub) == []  # stays ended


def test_finish_with_error_raises_after_the_last_event() -> None:
    log: TurnLog[int] = TurnLog("t")
    sub = log.subscribe()
    log.extend([1, 2])
    error = ConnectionError("engine died")
    log.finish(error)
    assert log.take(sub) == [1, 2]
    with pytest.raises(ConnectionError, match="engine died") as info:
        log.take(sub)
    assert info.value is error
    with pytest.raises(ConnectionError):
        log.take(sub)  # every later take raises again


def test_finish_error_reaches_every_subscriber() -> None:
    log: TurnLog[int] = TurnLog("t")
    subs = [log.subscribe() for _ in range(3)]
    log.finish(RuntimeError("boom"))
    for sub in subs:
        with pytest.raises(RuntimeError, match="boom"):
            log.take(sub)


def test_only_the_first_finish_counts() -> None:
    log: TurnLog[int] = TurnLog("t")
    sub = log.subscribe()
    log.finish()
    log.finish(RuntimeError("too late"))
    assert log.take(sub) == []

    log2: TurnLog[int] = TurnLog("t2")
    sub2 = log2.subscribe()
    log2.finish(ValueError("first"))
    log2.finish(RuntimeError("second"))
    log2.finish()
    with pytest.raises(ValueError, match="first"):
        log2.take(sub2)


def test_subscriber_added_after_finish_still_reads_the_retained_turn() -> None:
    log: TurnLog[int] = TurnLog("t", retain=True)
    log.extend([1, 2])
    log.finish()
    sub = log.subscribe(from_start=True)
    assert log.take(sub) == [1, 2]
    assert log.take(sub) == []
    assert log.take(log.subscribe(from_start=False)) == []


def test_finish_wakes_a_blocked_reader() -> None:
    log: TurnLog[int] = TurnLog("t")
    sub = log.subscribe()
    outcome: list[list[int]] = []
    thread = threading.Thread(target=lambda: outcome.append(log.take(sub, timeout=5)))
    thread.start()
    _wait_until(lambda: _waiting(log) == 1)
    log.finish()
    thread.join(2)
    assert outcome == [[]]


def test_finish_with_error_wakes_a_blocked_reader_with_the_error() -> None:
    log: TurnLog[int] = TurnLog("t")
    sub = log.subscribe()
    outcome: list[BaseException] = []

    def reader() -> None:
        try:
            log.take(sub, timeout=5)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    _wait_until(lambda: _waiting(log) == 1)
    log.finish(OSError("gone"))
    thread.join(2)
    assert len(outcome) == 1 and isinstance(outcome[0], OSError)


# -- take: blocking and timeouts ----------------------------------------------------------------------------------


def test_take_blocks_until_the_writer_extends() -> None:
    log: TurnLog[int] = TurnLog("t")
    sub = log.subscribe()
    outcome: list[list[int]] = []
    thread = threading.Thread(target=lambda: outcome.append(log.take(sub, timeout=5)))
    thread.start()
    _wait_until(lambda: _waiting(log) == 1)
    assert outcome == []
    log.extend([7, 8])
    thread.join(2)
    assert outcome == [[7, 8]]


def test_take_with_zero_timeout_and_nothing_to_read_raises_timeout_error() -> None:
    log: TurnLog[int] = TurnLog("turn-x")
    sub = log.subscribe()
    with pytest.raises(TimeoutError, match=r"no event of turn turn-x within 0 s"):
        log.take(sub, timeout=0)


def test_take_with_negative_timeout_raises_at_once() -> None:
    log: TurnLog[int] = TurnLog("t")
    sub = log.subscribe()
    with pytest.raises(TimeoutError):
        log.take(sub, timeout=-1)


def test_take_times_out_after_roughly_the_timeout() -> None:
    log: TurnLog[int] = TurnLog("t")
    sub = log.subscribe()
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"within 0\.05 s"):
        log.take(sub, timeout=0.05)
    elapsed = time.monotonic() - started
    assert 0.04 <= elapsed < 1.0


def test_take_with_timeout_returns_available_events_immediately() -> None:
    log: TurnLog[int] = TurnLog("t")
    sub = log.subscribe()
    log.extend([1])
    assert log.take(sub, timeout=0) == [1]


def test_take_with_timeout_on_an_ended_log_returns_empty_instead_of_timing_out() -> None:
    log: TurnLog[int] = TurnLog("t")
    sub = log.subscribe()
    log.finish()
    assert log.take(sub, timeout=0) == []


def test_timeout_does_not_move_the_cursor() -> None:
    log: TurnLog[int] = TurnLog("t")
    sub = log.subscribe()
    with pytest.raises(TimeoutError):
        log.take(sub, timeout=0)
    log.extend([1])
    assert log.take(sub, timeout=0) == [1]


# -- take_or_wake -------------------------------------------------------------------------------------------------


def test_take_or_wake_returns_events_without_registering_the_waker() -> None:
    log: TurnLog[int] = TurnLog("t")
    sub = log.subscribe()
    log.extend([1, 2])
    waker = Waker()
    assert log.take_or_wake(sub, waker) == [1, 2]
    log.extend([3])
    assert waker.calls == 0


def test_take_or_wake_registers_a_waker_called_once_on_the_writers_thread() -> None:
    log: TurnLog[int] = TurnLog("t")
    sub = log.subscribe()
    waker = Waker()
    assert log.take_or_wake(sub, waker) is None
    assert waker.calls == 0

    writer = threading.Thread(target=lambda: log.extend([1]), name="the-writer")
    writer.start()
    writer.join(2)
    assert waker.calls == 1
    assert waker.threads == ["the-writer"]

    log.extend([2])
    assert waker.calls == 1  # a waker fires once; it must be registered again
    assert log.take_or_wake(sub, waker) == [1, 2]


def test_take_or_wake_re_registering_replaces_the_previous_waker() -> None:
    log: TurnLog[int] = TurnLog("t")
    sub = log.subscribe()
    first, second = Waker(), Waker()
    assert log.take_or_wake(sub, first) is None
    assert log.take_or_wake(sub, second) is None
    log.extend([1])
    assert (first.calls, second.calls) == (0, 1)


def test_every_subscribers_waker_is_called() -> None:
    log: TurnLog[int] = TurnLog("t")
    wakers = [Waker() for _ in range(3)]
    for waker in wakers:
        assert log.take_or_wake(log.subscribe(), waker) is None
    log.extend([1])
    assert [w.calls for w in wakers] == [1, 1, 1]


def test_finish_calls_the_wakers() -> None:
    log: TurnLog[int] = TurnLog("t")
    sub = log.subscribe()
    waker = Waker()
    assert log.take_or_wake(sub, waker) is None
    log.finish()
    assert waker.calls == 1
    assert log.take_or_wake(sub, waker) == []
    log.finish()
    assert waker.calls == 1


def test_take_or_wake_reports_the_end_as_take_does() -> None:
    log: TurnLog[int] = TurnLog("t")
    sub = log.subscribe()
    log.extend([1])
    log.finish(KeyError("k"))
    waker = Waker()
    assert log.take_or_wake(sub, waker) == [1]
    with pytest.raises(KeyError):
        log.take_or_wake(sub, waker)
    assert waker.calls == 0


def test_unsubscribe_calls_the_subscribers_waker_once_then_reading_is_closed() -> None:
    log: TurnLog[int] = TurnLog("t")
    sub, other = log.subscribe(), log.subscribe()
    waker, other_waker = Waker(), Waker()
    assert log.take_or_wake(sub, waker) is None
    assert log.take_or_wake(other, other_waker) is None
    log.unsubscribe(sub)
    assert (waker.calls, other_waker.calls) == (1, 0)  # only the removed subscriber's waker
    with pytest.raises(LogClosedError):
        log.take_or_wake(sub, waker)
    log.extend([1])
    log.unsubscribe(sub)
    assert (waker.calls, other_waker.calls) == (1, 1)


def test_unsubscribe_without_a_waker_calls_nothing() -> None:
    log: TurnLog[int] = TurnLog("t")
    sub = log.subscribe()
    waker = Waker()
    log.extend([1])
    assert log.take_or_wake(sub, waker) == [1]  # got events: the waker was not registered
    log.unsubscribe(sub)
    assert waker.calls == 0


def test_a_waker_may_take_again_from_inside_the_call() -> None:
    log: TurnLog[int] = TurnLog("t")
    sub = log.subscribe()
    seen: list[list[int] | None] = []

    def wake() -> None:
        seen.append(log.take_or_wake(sub, wake))  # no lock is held while wakers run

    assert log.take_or_wake(sub, wake) is None
    log.extend([1, 2])
    assert seen == [[1, 2]]
    log.extend([3])  # the waker registered nothing (it got events), so it is not called again
    assert seen == [[1, 2]]
    assert log.take(sub) == [3]


# -- compaction ---------------------------------------------------------------------------------------------------


def test_compaction_after_enough_pruned_events_keeps_cursors_valid() -> None:
    log: TurnLog[int] = TurnLog("t", retain=False)
    sub = log.subscribe()
    total = _COMPACT_AFTER + 10
    log.extend(list(range(total)))
    assert log.take(sub) == list(range(total))
    assert len(log) == 0
    assert log._events == []
    assert log._base == total
    assert log._head == 0

    log.extend([total, total + 1])
    assert log.take(sub) == [total, total + 1]
    late = log.subscribe(from_start=True)
    log.extend([total + 2])
    assert log.take(late) == [total + 2]
    assert log.take(sub) == [total + 2]


def test_no_compaction_below_the_threshold() -> None:
    log: TurnLog[int] = TurnLog("t", retain=False)
    sub = log.subscribe()
    log.extend(list(range(_COMPACT_AFTER - 1)))
    log.take(sub)
    assert len(log) == 0
    assert len(log._events) == _COMPACT_AFTER - 1  # pruned logically, not yet compacted
    assert log._base == 0


def test_no_compaction_while_most_of_the_list_is_still_unread() -> None:
    log: TurnLog[int] = TurnLog("t", retain=False)
    fast, slow = log.subscribe(), log.subscribe()
    log.extend(list(range(_COMPACT_AFTER)))
    log.take(fast)
    log.take(slow)  # both read 1024 events: compacted
    assert log._base == _COMPACT_AFTER

    log.extend(list(range(_COMPACT_AFTER, 2 * _COMPACT_AFTER)))
    assert log.take(slow) == list(range(_COMPACT_AFTER, 2 * _COMPACT_AFTER))
    log.extend(list(range(2 * _COMPACT_AFTER, 5 * _COMPACT_AFTER)))
    assert log.take(fast) == list(range(_COMPACT_AFTER, 5 * _COMPACT_AFTER))
    # slow is at 2048 absolute (1024 into the list of 4096): head*2 < len, so no compaction yet
    assert log._base == _COMPACT_AFTER
    assert len(log) == 3 * _COMPACT_AFTER
    assert log.take(slow) == list(range(2 * _COMPACT_AFTER, 5 * _COMPACT_AFTER))
    assert log._base == 5 * _COMPACT_AFTER
    assert len(log) == 0


def test_compaction_with_a_slow_subscriber_preserves_its_events() -> None:
    log: TurnLog[int] = TurnLog("t", retain=False)
    fast, slow = log.subscribe(), log.subscribe()
    expected_slow: list[int] = []
    n = 0
    for _ in range(30):
        batch = list(range(n, n + 100))
        n += 100
        log.extend(batch)
        assert log.take(fast) == batch
    expected_slow = list(range(n))
    assert log.take(slow) == expected_slow
    assert len(log) == 0
    assert log._base == n


def test_coalescing_merges_only_consecutive_deltas_of_one_item_and_index() -> None:
    from codex_actors._protocol.generated import (
        CommandExecutionOutputDeltaNotification,
        ReasoningSummaryTextDeltaNotification,
    )
    from codex_actors.actors._coalesce import DELTAS, coalesce
    from codex_actors.models import CoalescedNotification, Notification

    def summary(index: int, text: str) -> Notification:
        payload = ReasoningSummaryTextDeltaNotification(
            delta=text, item_id="r", summary_index=index, thread_id="thr", turn_id="t"
        )
        return Notification("item/reasoning/summaryTextDelta", payload)

    def output(item: str, text: str) -> Notification:
        payload = CommandExecutionOutputDeltaNotification(delta=text, item_id=item, thread_id="thr", turn_id="t")
        return Notification("item/commandExecution/outputDelta", payload)

    events = [
        summary(0, "a"),
        summary(0, "b"),
        summary(1, "c"),
        output("x", "d"),
        output("x", "e"),
        output("y", "f"),
    ]
    merged, where = coalesce(events, {4}, DELTAS)  # a cursor between the two outputs of x
    assert [(e.method, e.payload.delta, DELTAS.size(e)) for e in merged] == [
        ("item/reasoning/summaryTextDelta", "ab", 2),
        ("item/reasoning/summaryTextDelta", "c", 1),
        ("item/commandExecution/outputDelta", "d", 1),
        ("item/commandExecution/outputDelta", "e", 1),
        ("item/commandExecution/outputDelta", "f", 1),
    ]
    assert where == {4: 3, 6: 5}
    first = merged[0]
    assert isinstance(first, CoalescedNotification) and isinstance(first, Notification)
    assert isinstance(first.payload, ReasoningSummaryTextDeltaNotification)
    assert first.payload.summary_index == 0 and first.deltas == 2
