"""Hypothesis and threads: TurnLog loses, duplicates and reorders nothing, and holds no more than it must."""

from __future__ import annotations

import contextlib
import math
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codex_actors._protocol.generated import AgentMessageDeltaNotification, ReasoningSummaryTextDeltaNotification
from codex_actors.actors._coalesce import DELTAS
from codex_actors.actors._turnlog import LAG_BATCHES, LogClosedError, TurnLog
from codex_actors.models import CoalescedNotification, Notification, UnknownNotification

PROPERTY_SETTINGS = settings(max_examples=100, deadline=None)

# An operation: ("write", batch size) | ("take", subscriber) | ("poll", subscriber) | ("close", subscriber)
Op = tuple[str, int]


def _ops(subscribers: int, *, closes: bool) -> st.SearchStrategy[list[Op]]:
    writes = st.tuples(st.just("write"), st.integers(0, 300))
    takes = st.tuples(st.sampled_from(["take", "poll"]), st.integers(0, subscribers - 1))
    choices = [writes, takes]
    if closes and subscribers > 1:
        # subscriber 0 never leaves, so there is always someone the log prunes for
        choices.append(st.tuples(st.just("close"), st.integers(1, subscribers - 1)))
    return st.lists(st.one_of(*choices), max_size=40)


@dataclass
class Reader:
    sub: int
    seen: list[int] = field(default_factory=list)
    open: bool = True
    wakes: int = 0
    waiting: bool = False  # a waker is registered

    def wake(self) -> None:
        assert self.waiting, "a waker was called without being registered"
        self.waiting = False
        self.wakes += 1


def _run(log: TurnLog[int], readers: list[Reader], ops: list[Op], *, check_memory: bool) -> int:
    """Apply the operations; return how many events were written."""
    written = 0
    for kind, arg in ops:
        if kind == "write":
            batch = list(range(written, written + arg))
            log.extend(batch)
            written += arg
            if batch:  # every registered waker was called (Reader.wake clears `waiting`)
                assert not any(reader.waiting for reader in readers)
        else:
            reader = readers[arg]
            if kind == "close":
                log.unsubscribe(reader.sub)
                reader.open = False
                reader.waiting = False
            elif not reader.open:
                with pytest.raises(LogClosedError):
                    log.take(reader.sub, timeout=0)
            elif kind == "take":
                try:
                    reader.seen.extend(log.take(reader.sub, timeout=0))
                except TimeoutError:
                    assert len(reader.seen) == written
            else:
                got = log.take_or_wake(reader.sub, reader.wake)
                if got is None:
                    assert len(reader.seen) == written
                    reader.waiting = True
                else:
                    assert got, "take_or_wake returned an empty batch on an open log"
                    reader.seen.extend(got)
        for reader in readers:
            if reader.open:
                assert reader.seen == list(range(len(reader.seen)))  # in order, nothing skipped or repeated
        if check_memory:
            unread = max(written - len(r.seen) for r in readers if r.open)
            assert len(log) == unread
    return written


_MAX_EVENTS = 50_000  # more than any test writes: a drain that never ends is a bug, not a reason to hang


def _drain(log: TurnLog[int], reader: Reader) -> None:
    """Read an ended log to its end."""
    while len(reader.seen) <= _MAX_EVENTS:
        batch = log.take(reader.sub, timeout=0)
        if not batch:
            return
        reader.seen.extend(batch)
    raise AssertionError("the log never reported its end")


def _drain_open(log: TurnLog[int], reader: Reader) -> None:
    """Read an open log until it has nothing more for now."""
    while len(reader.seen) <= _MAX_EVENTS:
        try:
            reader.seen.extend(log.take(reader.sub, timeout=0))
        except TimeoutError:
            return
    raise AssertionError("the reader never caught up")


@PROPERTY_SETTINGS
@given(subscribers=st.integers(1, 4), data=st.data())
def test_every_subscriber_sees_the_whole_sequence_in_order(subscribers: int, data: st.DataObject) -> None:
    retain = data.draw(st.booleans(), label="retain")
    log: TurnLog[int] = TurnLog("t", retain=retain)
    readers = [Reader(log.subscribe()) for _ in range(subscribers)]
    ops = data.draw(_ops(subscribers, closes=True), label="ops")
    written = _run(log, readers, ops, check_memory=not retain)
    log.finish()
    for reader in readers:
        if reader.open:
            _drain(log, reader)
            assert reader.seen == list(range(written))
            assert reader.waiting is False  # finish (or a write) called every pending waker


@PROPERTY_SETTINGS
@given(subscribers=st.integers(1, 4), data=st.data())
def test_unretained_log_holds_only_what_the_slowest_subscriber_has_not_read(
    subscribers: int, data: st.DataObject
) -> None:
    log: TurnLog[int] = TurnLog("t", retain=False)
    readers = [Reader(log.subscribe()) for _ in range(subscribers)]
    written = _run(log, readers, data.draw(_ops(subscribers, closes=True), label="ops"), check_memory=True)
    for reader in readers:
        if reader.open:
            _drain_open(log, reader)
    assert len(log) == 0
    assert all(reader.seen == list(range(written)) for reader in readers if reader.open)


@PROPERTY_SETTINGS
@given(subscribers=st.integers(0, 3), data=st.data())
def test_late_subscriber_on_a_retained_log_sees_everything(subscribers: int, data: st.DataObject) -> None:
    log: TurnLog[int] = TurnLog("t", retain=True)
    readers = [Reader(log.subscribe()) for _ in range(subscribers)]
    ops = data.draw(_ops(max(subscribers, 1), closes=subscribers > 1), label="ops")
    if subscribers == 0:
        ops = [op for op in ops if op[0] == "write"]
    written = _run(log, readers, ops, check_memory=False)
    assert len(log) == written  # a retained log drops nothing

    late = Reader(log.subscribe(from_start=True))
    future = Reader(log.subscribe(from_start=False))
    log.extend([written])
    log.finish()
    _drain(log, late)
    _drain(log, future)
    assert late.seen == list(range(written + 1))
    assert future.seen == [written]


@PROPERTY_SETTINGS
@given(
    batches=st.lists(st.integers(0, 400), max_size=25),
    retain_flips=st.lists(st.booleans(), max_size=25),
)
def test_toggling_retain_never_loses_events(batches: list[int], retain_flips: list[bool]) -> None:
    log: TurnLog[int] = TurnLog("t", retain=True)
    reader = Reader(log.subscribe())
    written = 0
    retain = True
    kept_from = 0  # the model: the first event the log still holds
    for i, size in enumerate(batches):
        log.extend(list(range(written, written + size)))
        written += size
        if i < len(retain_flips):
            retain = retain_flips[i]
            log.set_retain(retain)
        if i % 2:
            _drain_open(log, reader)
        if not retain:
            kept_from = len(reader.seen)
        assert len(log) == written - kept_from
    _drain_open(log, reader)
    if not retain:
        kept_from = written
    assert reader.seen == list(range(written))
    assert len(log) == written - kept_from
    late = Reader(log.subscribe(from_start=True))
    _drain_open(log, late)
    assert late.seen == list(range(kept_from, written))


# -- threads ------------------------------------------------------------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize("retain", [False, True])
def test_one_writer_thread_and_four_reader_threads(retain: bool) -> None:
    total = 20_000
    log: TurnLog[int] = TurnLog("threaded", retain=retain)
    subs = [log.subscribe() for _ in range(4)]
    seen: list[list[int]] = [[] for _ in subs]
    errors: list[BaseException] = []
    takes = [0 for _ in subs]
    max_held = 0

    def blocking_reader(index: int) -> None:
        try:
            while batch := log.take(subs[index], timeout=10):
                takes[index] += 1
                seen[index].extend(batch)
                assert len(seen[index]) <= total, "events delivered twice"
        except BaseException as exc:
            errors.append(exc)

    def waking_reader(index: int) -> None:
        woken = threading.Event()
        try:
            while True:
                woken.clear()
                batch = log.take_or_wake(subs[index], woken.set)
                if batch is None:
                    if not woken.wait(10):
                        raise TimeoutError("waker never called")
                    continue
                if not batch:
                    return
                takes[index] += 1
                seen[index].extend(batch)
                assert len(seen[index]) <= total, "events delivered twice"
        except BaseException as exc:
            errors.append(exc)

    def writer() -> None:
        nonlocal max_held
        rng = random.Random(1234)
        n = 0
        while n < total:
            size = min(rng.randint(1, 64), total - n)
            log.extend(list(range(n, n + size)))
            n += size
            max_held = max(max_held, len(log))
            time.sleep(0.0005 if rng.random() < 0.02 else 0)  # let the readers interleave
        log.finish()

    readers = [
        threading.Thread(target=blocking_reader, args=(0,), daemon=True),
        threading.Thread(target=blocking_reader, args=(1,), daemon=True),
        threading.Thread(target=blocking_reader, args=(2,), daemon=True),
        threading.Thread(target=waking_reader, args=(3,), daemon=True),
    ]
    writer_thread = threading.Thread(target=writer, daemon=True)
    for thread in [*readers, writer_thread]:
        thread.start()
    for thread in [writer_thread, *readers]:
        thread.join(20)
        assert not thread.is_alive()

    assert errors == []
    expected = list(range(total))
    for got in seen:
        assert got == expected
    assert max_held <= total
    assert all(count >= 1 for count in takes)
    if retain:
        assert len(log) == total
    else:
        assert len(log) == 0
        assert log._base + log._head == total  # everything pruned; compaction kept positions absolute


# -- coalescing a lagging subscriber's deltas ---------------------------------------------------------------------

_COALESCE_AFTER = 8  # small, so that short runs of operations coalesce many times
_ITEMS = ("a", "b")


def _note(kind: str, item: str, text: str) -> Notification:
    """A delta of ``item`` (``kind`` "delta", or "summary": a reasoning summary's, index 0), or another event."""
    if kind == "delta":
        payload: Any = AgentMessageDeltaNotification(delta=text, item_id=item, thread_id="thr", turn_id="t")
        return Notification("item/agentMessage/delta", payload)
    if kind == "summary":
        payload = ReasoningSummaryTextDeltaNotification(
            delta=text, item_id=item, summary_index=0, thread_id="thr", turn_id="t"
        )
        return Notification("item/reasoning/summaryTextDelta", payload)
    return Notification("item/started", UnknownNotification({"n": text}))


_events = st.tuples(
    st.sampled_from(["delta", "delta", "delta", "summary", "other"]),
    st.sampled_from(_ITEMS),
    st.text("xyz", min_size=1, max_size=3),
).map(lambda spec: _note(*spec))
_delta_ops = st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.lists(_events, max_size=12)),
        st.tuples(st.sampled_from(["take", "poll"]), st.integers(0, 2)),
    ),
    max_size=60,
)


def _canonical(events: list[Notification]) -> list[tuple[Any, ...]]:
    """The events as a reader understands them: consecutive deltas of one item joined, the rest as they are."""
    out: list[tuple[Any, ...]] = []
    for event in events:
        key = DELTAS.key(event)
        if key is None:
            out.append(("other", event.method, event.payload))
        elif out and out[-1][0] == key:
            out[-1] = (key, out[-1][1] + event.payload.delta)
        else:
            out.append((key, event.payload.delta))
    return out


def _held_bound(written: list[Notification], start: int, readers: int, largest_batch: int) -> int:
    """What a coalescing log may hold when its slowest reader is at ``start``: a constant plus the irreducible."""
    backlog = written[start:]
    pieces = len(_canonical(backlog)) + readers + 1  # runs and other events, split at most at each cursor
    chain = math.ceil(math.log2(len(written) + 1)) + 2  # a run is held as a chain of halving merges
    return 2 * (_COALESCE_AFTER + LAG_BATCHES * largest_batch + pieces * chain)


@PROPERTY_SETTINGS
@given(subscribers=st.integers(1, 3), ops=_delta_ops)
def test_a_lagging_subscriber_reads_coalesced_deltas_with_the_same_text_and_every_other_event_in_order(
    subscribers: int, ops: list[tuple[str, Any]]
) -> None:
    log: TurnLog[Notification] = TurnLog("t", retain=False, coalescer=DELTAS, coalesce_after=_COALESCE_AFTER)
    subs = [log.subscribe() for _ in range(subscribers)]
    seen: list[list[Notification]] = [[] for _ in subs]
    written: list[Notification] = []
    largest_batch = 0

    def originals(events: list[Notification]) -> int:
        return sum(map(DELTAS.size, events))

    def check(index: int) -> None:
        read = originals(seen[index])
        assert _canonical(seen[index]) == _canonical(written[:read])  # same text per item, the rest in order

    for kind, arg in ops:
        if kind == "write":
            log.extend(arg)
            written.extend(arg)
            largest_batch = max(largest_batch, len(arg))
        elif arg < subscribers:
            if kind == "take":
                with contextlib.suppress(TimeoutError):
                    seen[arg].extend(log.take(subs[arg], timeout=0))
            else:
                got = log.take_or_wake(subs[arg], lambda: None)
                seen[arg].extend(got or [])
            check(arg)
        slowest = min(originals(events) for events in seen)
        assert len(log) <= _held_bound(written, slowest, subscribers, largest_batch)
    log.finish()
    for index, sub in enumerate(subs):
        while batch := log.take(sub, timeout=0):
            seen[index].extend(batch)
        assert originals(seen[index]) == len(written)
        check(index)


def test_a_subscriber_that_keeps_up_sees_every_delta_as_it_was_written() -> None:
    log: TurnLog[Notification] = TurnLog("t", retain=False, coalescer=DELTAS, coalesce_after=_COALESCE_AFTER)
    sub = log.subscribe()
    written = [_note("delta", "a", str(n)) for n in range(1000)]
    seen: list[Notification] = []
    for start in range(0, len(written), 5):
        log.extend(written[start : start + 5])
        seen.extend(log.take(sub, timeout=0))
    assert seen == written  # the very objects: nothing coalesced, no copy


def test_a_subscriber_that_reads_only_after_the_end_gets_a_bounded_backlog_with_the_whole_text() -> None:
    log: TurnLog[Notification] = TurnLog("t", retain=False, coalescer=DELTAS)
    slow, fast = log.subscribe(), log.subscribe()
    count = 256 * 400
    fast_seen: list[Notification] = []
    held = 0
    for _ in range(0, count, 256):
        log.extend([_note("delta", "a", "x") for _ in range(256)])
        held = max(held, len(log))
        fast_seen.extend(log.take(fast, timeout=0))
    log.extend([_note("other", "a", "done")])
    log.finish()
    assert held <= 2 * 4096 + LAG_BATCHES * 256
    events: list[Notification] = []
    while batch := log.take(slow, timeout=0):
        events.extend(batch)
    assert len(events) <= 2 * 4096 + 256  # coalesced, but for the uncoalesced tail since the last pass
    assert "".join(e.payload.delta for e in events[:-1]) == "x" * count
    assert sum(map(DELTAS.size, events)) == count + 1
    assert all(isinstance(e, Notification) for e in events)
    assert isinstance(events[0], CoalescedNotification) and events[0].deltas > 1
    assert "".join(e.payload.delta for e in fast_seen) == "x" * count
