"""A turn handle's cursor in its turn's log, for blocking and for asyncio readers.

The asyncio side never holds a thread while it waits: when the log has nothing new, the log calls a waker on
the writer's thread, which schedules the reader's future on its loop.
"""

from __future__ import annotations

import asyncio
import itertools
import weakref
from collections.abc import Callable
from functools import partial
from typing import Any, TypeAlias, cast

from ._results import TurnResult
from ._structured import run_result
from .actors._messages import TurnStarted
from .actors._turnlog import LogClosedError, TurnLog
from .errors import TransportClosedError
from .models import Notification

__all__ = ["EventStream", "Subscription"]

CLOSED = "Turn subscription closed"

#: How a stream turns a ``TransportClosedError`` into the error its caller sees.
Translate: TypeAlias = Callable[[TransportClosedError], BaseException]


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Subscription:
    """One reader of a turn's log; released when closed or garbage collected."""

    __slots__ = ("__weakref__", "_finalizer", "closed", "log", "subscriber")

    def __init__(self, started: TurnStarted) -> None:
        self.log: TurnLog[Notification] = started.log
        self.subscriber = started.subscriber
        self.closed = False
        self._finalizer = weakref.finalize(self, started.log.unsubscribe, started.subscriber)

    def take(self, timeout: float | None = None) -> list[Notification]:
        """The next events (``[]`` once the turn's log ended); blocks until there are some."""
        if self.closed:
            raise TransportClosedError(CLOSED)
        try:
            return self.log.take(self.subscriber, timeout)
        except LogClosedError:
            raise TransportClosedError(CLOSED) from None

    async def atake(self) -> list[Notification]:
        """:meth:`take` for asyncio: awaits without holding a thread."""
        if self.closed:
            raise TransportClosedError(CLOSED)
        loop = asyncio.get_running_loop()
        while True:
            ready: asyncio.Future[None] = loop.create_future()
            try:
                events = self.log.take_or_wake(self.subscriber, partial(loop.call_soon_threadsafe, _wake, ready))
            except LogClosedError:
                raise TransportClosedError(CLOSED) from None
            if events is not None:
                return events
            await ready

    def close(self) -> None:
        """Release the cursor (idempotent); what only it still needed can be pruned."""
        self.closed = True
        self._finalizer()

    def result(self, output_type: Any = None) -> TurnResult:
        """The turn's result, as ``run()`` returns it, once the log has ended (read it to the end first).

        It is the one the thread actor assembled from every event of the turn, copied for this caller (so
        ``parsed``, with ``output_type``, is this caller's own); a failed turn raises ``RuntimeError``.
        """
        assembled = self.log.result
        if not isinstance(assembled, TurnResult):
            raise RuntimeError("turn completed event not received")
        return run_result(assembled, output_type)


class _Batches:
    """The batches behind an :class:`EventStream`: each step takes everything new in the log."""

    __slots__ = ("_subscription", "_translate")

    def __init__(self, subscription: Subscription, translate: Translate) -> None:
        self._subscription = subscription
        self._translate = translate

    def __iter__(self) -> _Batches:
        return self

    def __next__(self) -> list[Notification]:
        subscription = self._subscription
        try:
            events = subscription.take()
        except TransportClosedError as exc:
            subscription.close()
            raise self._translate(exc) from None
        if not events:  # the log ended (right after turn/completed)
            subscription.close()
            raise StopIteration
        return events


class EventStream(itertools.chain[Notification]):
    """The iterator ``TurnHandle.stream()`` returns: a turn's events, ending after its ``turn/completed``.

    It walks the log a batch at a time, so handing out one event is a C-level step. Like a generator, it can be
    closed (the subscription is released; so it is when the iterator is dropped, or the turn ends). Closed or
    dropped while its subscription is still open and the turn has not ended, it calls ``on_close`` once (how
    ``stream(interrupt_on_close=True)`` interrupts the turn).
    """

    __slots__ = ("_on_close", "_subscription")

    _subscription: Subscription
    _on_close: Callable[[], None] | None

    @classmethod
    def of(
        cls, subscription: Subscription, translate: Translate, on_close: Callable[[], None] | None = None
    ) -> EventStream:
        """The events of ``subscription``; a ``TransportClosedError`` while reading is raised translated."""
        stream = cast(EventStream, cls.from_iterable(_Batches(subscription, translate)))
        stream._subscription = subscription
        stream._on_close = on_close
        return stream

    def close(self) -> None:
        """Stop reading: release the subscription (idempotent)."""
        self._stop(self._subscription)

    def _stop(self, subscription: Subscription) -> None:
        on_close = getattr(self, "_on_close", None)
        if on_close is not None:
            self._on_close = None
            if not subscription.closed and not subscription.log.done:
                on_close()
        subscription.close()

    def __del__(self) -> None:
        subscription = getattr(self, "_subscription", None)  # unset if construction failed half-way
        if subscription is not None:
            self._stop(subscription)
