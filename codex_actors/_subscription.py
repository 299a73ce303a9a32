"""A turn handle's cursor in its turn's log, for blocking and for asyncio readers.

The asyncio side never holds a thread while it waits: when the log has nothing new, the log calls a waker on
the writer's thread, which schedules the reader's future on its loop.
"""

from __future__ import annotations

import asyncio
import weakref
from functools import partial

from .actors.messages import TurnStarted
from .actors.turnlog import LogClosedError, TurnLog
from .errors import TransportClosedError
from .models import Notification

__all__ = ["Subscription"]

CLOSED = "Turn subscription closed"


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
