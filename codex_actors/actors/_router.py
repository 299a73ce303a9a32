"""Where the reader thread hands what the engine sends: per-thread sinks, a default, and the event sink.

A :class:`Router` is consulted on the reader thread for every batch, so its sinks must not block: an actor's
``tell`` or a bounded buffer append. Sinks are bound and unbound from any thread.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Sequence

from .._protocol.jsonrpc import ServerNotification, ServerRequest
from ._messages import NotificationSink, PortEvent

__all__ = ["EventSink", "NotificationBuffer", "RequestSink", "Router"]

RequestSink = Callable[[ServerRequest], None]
EventSink = Callable[[PortEvent], None]


class NotificationBuffer:
    """A bounded buffer of notifications nobody else claimed; the oldest are dropped (and counted) when full."""

    def __init__(self, maxlen: int = 1024) -> None:
        self._items: collections.deque[ServerNotification] = collections.deque(maxlen=maxlen)
        self._cond = threading.Condition()
        self.dropped = 0

    def __call__(self, batch: Sequence[ServerNotification]) -> None:
        """Append a batch (this object is itself a :data:`NotificationSink`)."""
        with self._cond:
            room = self._items.maxlen or 0
            overflow = len(self._items) + len(batch) - room
            if overflow > 0:
                self.dropped += overflow
            self._items.extend(batch)
            self._cond.notify_all()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, timeout: float) -> ServerNotification:
        """The oldest buffered notification, waiting up to ``timeout`` seconds (``TimeoutError`` after)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._items, timeout):
                raise TimeoutError(f"no notification within {timeout:g} s")
            return self._items.popleft()

    def wait_for(self, method: str, timeout: float) -> ServerNotification:
        """Take notifications until one with ``method`` arrives (the others are discarded)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                item = self.get(max(deadline - time.monotonic(), 0.0))
            except TimeoutError:
                raise TimeoutError(f"no {method!r} notification within {timeout:g} s") from None
            if item.method == method:
                return item

    def drain(self) -> list[ServerNotification]:
        """Take everything buffered now."""
        with self._cond:
            items = list(self._items)
            self._items.clear()
            return items


def _ignore_event(_event: PortEvent) -> None:
    return None


class Router:
    """Decides who gets each notification (by ``threadId``), each server request, and each port event."""

    def __init__(
        self,
        *,
        default: NotificationSink | None = None,
        requests: RequestSink | None = None,
        events: EventSink | None = None,
        watch: NotificationSink | None = None,
        engine: int = 0,
    ) -> None:
        #: The index, in its client's pool, of the engine whose port this router serves.
        self.engine = engine
        self.default: NotificationSink = NotificationBuffer() if default is None else default
        self.requests: RequestSink | None = requests
        self.events: EventSink = _ignore_event if events is None else events
        self._threads: dict[str, NotificationSink] = {}
        #: Sees every batch first, on the reader thread (before any server request read after it is handed on).
        self.watch: NotificationSink | None = watch

    def deliver(self, sink: NotificationSink, batch: Sequence[ServerNotification]) -> None:
        """Hand ``batch`` to ``sink``, once the watcher (if any) saw it."""
        if self.watch is not None:
            self.watch(batch)
        sink(batch)

    def bind_thread(self, thread_id: str, sink: NotificationSink) -> None:
        """Send this thread's notifications to ``sink`` from now on."""
        self._threads[thread_id] = sink

    def unbind_thread(self, thread_id: str, sink: NotificationSink | None = None) -> None:
        """Stop routing this thread specially (its notifications go to the default sink again).

        With ``sink``, only if that is still the thread's sink (a newer binding is left alone).
        """
        if sink is None or self._threads.get(thread_id) == sink:
            self._threads.pop(thread_id, None)

    def sink_for(self, thread_id: str | None) -> NotificationSink:
        """The sink for a notification of ``thread_id`` (``None``: not about a thread)."""
        if thread_id is None:
            return self.default
        return self._threads.get(thread_id, self.default)
