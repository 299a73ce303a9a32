"""``Timers``: delayed calls for the actors of one runtime, all on one daemon thread.

Actors never sleep: an idle check or a retry after a backoff is a call scheduled here, which tells the actor when
it is due. One thread serves every timer of a runtime (a heap by deadline), so a thousand idle threads cost
a thousand heap entries, not a thousand OS threads. A callback must not block: it tells an actor and returns.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

__all__ = ["Timers"]

logger = logging.getLogger("codex_actors.timers")


class Timers:
    """Calls made later, on one thread started at the first :meth:`call_later` and ended by :meth:`close`."""

    def __init__(self, name: str = "codex-actors-timers") -> None:
        self._name = name
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def __len__(self) -> int:
        """The calls still due."""
        with self._cond:
            return len(self._heap)

    def call_later(self, delay: float, callback: Callable[[], None]) -> None:
        """Call ``callback()`` on the timer thread after ``delay`` seconds (never, once closed)."""
        deadline = time.monotonic() + max(0.0, delay)
        with self._cond:
            if self._closed:
                return
            heapq.heappush(self._heap, (deadline, next(self._order), callback))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            elif self._heap[0][2] is callback:
                self._cond.notify()

    def close(self) -> None:
        """Drop every call still due and end the thread (idempotent)."""
        with self._cond:
            self._closed = True
            self._heap.clear()
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)

    def _run(self) -> None:
        cond = self._cond
        while True:
            with cond:
                while not self._closed and (not self._heap or self._heap[0][0] > time.monotonic()):
                    cond.wait(None if not self._heap else max(0.0, self._heap[0][0] - time.monotonic()))
                if self._closed:
                    return
                _, _, callback = heapq.heappop(self._heap)
            try:
                callback()
            except Exception:
                logger.exception("a timer callback raised")
