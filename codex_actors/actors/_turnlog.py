"""A turn's event log: written by its ThreadActor, read by any number of subscribers, each at its own cursor.

The log is the one structure shared between an actor and the callers' threads; everything else travels as
messages. Writers append whole batches; readers take everything past their cursor in one call, so a reader that
keeps up costs one lock round trip per batch, not per event, and a slow reader delays nobody (the writer never
waits). Events every subscriber has read are pruned (all of them when it has no subscriber), unless the log is
*retained*: its owner keeps it whole
while a ``turn/start`` that may claim it is in flight, so a handle that subscribes late still sees the turn
from its first event.

What the slowest subscriber has not read is bounded as well, for a log given a
:class:`~codex_actors.actors._coalesce.Coalescer` (every turn's log is): once that subscriber lags (behind by
``COALESCE_AFTER`` events, not counting the batch just written, and no read for ``LAG_BATCHES`` batches), runs of
mergeable events it has not read (a turn's text deltas, one item at a time) are merged into one event each. Runs
break at every cursor and the cursors are remapped, so each subscriber reads on from the same point; a pass runs
when what is held has doubled since the last one (amortized O(1) per event). A subscriber that keeps up is never
touched: the writer's only extra work is one comparison per batch.

A log ends with :meth:`TurnLog.finish`: normally after ``turn/completed``, carrying the turn's result (so every
reader gets the one its owner assembled), or with an error (the engine died), which readers get once they have
read everything before it.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from ._coalesce import Coalescer, coalesce

__all__ = ["COALESCE_AFTER", "LogClosedError", "TurnLog"]

E = TypeVar("E")
Waker = Callable[[], object]

_COMPACT_AFTER = 1024
#: Events held (unread by the slowest subscriber) past which a log with a coalescer first coalesces them.
COALESCE_AFTER = 4096
#: Batches written since the slowest subscriber last read on, past which (and past COALESCE_AFTER) it lags.
LAG_BATCHES = 16


class LogClosedError(Exception):
    """The subscriber was removed (its handle was closed): it cannot read any more."""


class TurnLog(Generic[E]):
    """An append-only multicast log with per-subscriber cursors. Thread-safe."""

    def __init__(
        self,
        turn_id: str,
        *,
        retain: bool = True,
        coalescer: Coalescer[E] | None = None,
        coalesce_after: int = COALESCE_AFTER,
    ) -> None:
        self.turn_id = turn_id
        self._events: list[E] = []
        self._head = 0  # index in _events of the first event still kept
        self._base = 0  # absolute position of _events[0]
        self._cursors: dict[int, int] = {}
        self._wakers: dict[int, Waker] = {}
        self._ids = itertools.count()
        self._done = False
        self._error: BaseException | None = None
        self._result: object = None
        self._retain = retain
        self._coalescer = coalescer
        self._coalesce_after = coalesce_after
        self._coalesce_at = coalesce_after  # the held count that starts the next pass
        self._lagging = False  # the slowest subscriber lagged at a pass, and has not read on since
        self._unread_batches = 0  # batches written since the slowest subscriber last read on
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)

    # -- the writer -------------------------------------------------------------------------------------------

    def extend(self, events: Sequence[E]) -> None:
        """Append events (ignored once the log has ended, or when nobody can read them any more)."""
        if not events:
            return
        with self._lock:
            if self._done or (not self._retain and not self._cursors):
                return
            self._events.extend(events)
            self._unread_batches += 1
            if self._coalescer is not None and len(self._events) - self._head >= self._coalesce_at:
                self._coalesce(self._coalescer, len(events))
            wakers = self._take_wakers()
            self._cond.notify_all()
        for wake in wakers:
            wake()

    def finish(self, error: BaseException | None = None, *, result: object = None) -> None:
        """End the log; readers get ``error`` (if any) after the last event, else :attr:`result`.

        Only the first call counts.
        """
        with self._lock:
            if self._done:
                return
            self._done = True
            self._error = error
            self._result = result
            if self._coalescer is not None and len(self._events) - self._head >= self._coalesce_after:
                self._coalesce(self._coalescer, 0)  # the turn is over: what a lagging subscriber has left
            wakers = self._take_wakers()
            self._cond.notify_all()
        for wake in wakers:
            wake()

    def set_retain(self, retain: bool) -> None:
        """Keep every event (True) or prune what all subscribers have read (False)."""
        with self._lock:
            self._retain = retain
            self._prune()

    # -- the readers ------------------------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        """Whether the log has ended."""
        return self._done

    @property
    def result(self) -> object:
        """What the log ended with (``None`` before the end, after an error, or when none was given)."""
        return self._result

    @property
    def subscribers(self) -> int:
        """How many subscribers the log has."""
        return len(self._cursors)

    def __len__(self) -> int:
        """Events held in memory now."""
        return len(self._events) - self._head

    def subscribe(self, *, from_start: bool = True) -> int:
        """A new subscriber id, reading from the first kept event (or from the end, for future events only)."""
        with self._lock:
            position = self._base + (self._head if from_start else len(self._events))
            sub = next(self._ids)
            self._cursors[sub] = position
            return sub

    def unsubscribe(self, sub: int) -> None:
        """Remove a subscriber (idempotent); what only it still needed is pruned.

        A reader of ``sub`` blocked in :meth:`take` (or waiting on its waker) is woken and gets
        :class:`LogClosedError`.
        """
        with self._lock:
            self._cursors.pop(sub, None)
            waker = self._wakers.pop(sub, None)
            self._prune()
            self._cond.notify_all()
        if waker is not None:
            waker()

    def take(self, sub: int, timeout: float | None = None) -> list[E]:
        """Everything past ``sub``'s cursor, waiting for at least one event.

        Returns ``[]`` once the log has ended normally and everything was read; raises the log's error if it
        ended with one, :class:`LogClosedError` if ``sub`` was removed, ``TimeoutError`` after ``timeout``.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while True:
                events = self._read(sub)
                if events or self._done:
                    break
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"no event of turn {self.turn_id} within {timeout:g} s")
                self._cond.wait(remaining)
        if not events:
            self._raise_end()
        return events

    def take_or_wake(self, sub: int, waker: Waker) -> list[E] | None:
        """Take without blocking: the events past the cursor, or ``None``.

        ``None`` means there were none yet, and ``waker()`` will be called (on the writer's thread) when there
        are. The end of the log is reported as by :meth:`take`.
        """
        with self._lock:
            events = self._read(sub)
            if not events and not self._done:
                self._wakers[sub] = waker
                return None
        if not events:
            self._raise_end()
        return events

    # -- internals (lock held) --------------------------------------------------------------------------------

    def _read(self, sub: int) -> list[E]:
        cursor = self._cursors.get(sub)
        if cursor is None:
            raise LogClosedError(f"subscriber {sub} of turn {self.turn_id} is closed")
        start = cursor - self._base
        events = self._events[start:]
        if events:
            self._cursors[sub] = self._base + len(self._events)
            self._prune()
        return events

    def _raise_end(self) -> None:
        if self._error is not None:
            raise self._error

    def _take_wakers(self) -> list[Waker]:
        wakers = list(self._wakers.values())
        self._wakers.clear()
        return wakers

    def _coalesce(self, coalescer: Coalescer[E], fresh: int) -> None:
        """Merge the runs the slowest subscriber has not read yet, once it lags.

        It lags once it is behind by the threshold (not counting the ``fresh`` batch just written) and has not
        read on for ``LAG_BATCHES`` batches, and until it reads on: a subscriber that keeps up (the GIL or a busy
        consumer may hold it back for a few batches) sees every delta as it was written. Nothing before the
        slowest cursor is touched (it is read; a retained log keeps it for late subscribers), and no merged event
        straddles a cursor, so every subscriber reads on from the same point of the turn.
        """
        events, base, cursors = self._events, self._base, self._cursors
        start = max(self._head, min(cursors.values()) - base) if cursors else self._head
        if not self._lagging:
            if self._unread_batches < LAG_BATCHES or len(events) - fresh - start < self._coalesce_after:
                return  # the slowest subscriber keeps up: the next batch checks again
            self._lagging = True
        stop = len(events)
        if stop - start > 1:
            breaks = {cursor - base - start for cursor in cursors.values() if start < cursor - base < stop}
            merged, where = coalesce(events[start:stop], breaks, coalescer)
            shift = len(merged) - (stop - start)
            events[start:stop] = merged
            for sub, cursor in cursors.items():
                index = cursor - base
                if index >= stop:
                    cursors[sub] = cursor + shift
                elif index > start:
                    cursors[sub] = base + start + where[index - start]
        # The next pass once what is held has doubled: each pass costs what it scans, amortized O(1) per event.
        self._coalesce_at = max(self._coalesce_after, 2 * (len(events) - self._head))

    def _prune(self) -> None:
        if self._retain:
            self._lagging, self._unread_batches = False, 0  # (approximately: a retained log is short-lived)
        else:
            # Without subscribers nobody can read what is kept (a new one starts here), so nothing is.
            low = (min(self._cursors.values()) if self._cursors else self._base + len(self._events)) - self._base
            if low > self._head:
                self._head = low
                self._lagging, self._unread_batches = False, 0
            if self._head >= _COMPACT_AFTER and self._head * 2 >= len(self._events):
                del self._events[: self._head]
                self._base += self._head
                self._head = 0
        if self._coalesce_at > self._coalesce_after:  # the slowest reader caught up: the doubling starts anew
            self._coalesce_at = max(self._coalesce_after, 2 * (len(self._events) - self._head))
