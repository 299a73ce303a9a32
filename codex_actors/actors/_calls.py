"""``CallRunner``: user code (tool handlers, approval policies) run off the actors' threads, bounded and timed.

An actor must never run a user's function itself: a tool that sleeps, a policy that asks a person, would stop
every other message of that actor. A runner takes the call, runs it on one of its own threads (a plain
function) or on its event loop (a coroutine function), and reports how it ended through ``done``, called exactly
once from whichever thread settles it first:

* :class:`Finished` (the value), :class:`Raised` (the exception, which kills nothing), or
* :class:`TimedOut` once ``timeout_s`` passed since the call was *submitted* (time spent waiting for a free slot
  counts: nothing waits forever).

At most ``limit`` calls run at once; the others wait in arrival order. A coroutine past its timeout is
cancelled. A plain function cannot be stopped in Python: its caller is answered at the timeout, and the function
keeps its slot until it returns (the bound on threads holds whatever the handlers do). Worker threads are
daemons started on demand, which end after :data:`IDLE_S` without work, so a runner costs nothing while idle and
never holds up interpreter exit (``concurrent.futures`` joins its workers at exit: one hung handler would hang
the process).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import inspect
import logging
import threading
from collections.abc import Callable
from typing import Any

import msgspec

from ._timers import Timers

__all__ = ["IDLE_S", "CallRunner", "Finished", "Outcome", "Raised", "TimedOut"]

logger = logging.getLogger("codex_actors.calls")

#: Seconds the cancelled coroutines of a closed runner get to unwind (and report how they ended).
CANCEL_GRACE_S = 1.0
#: Seconds an idle worker thread waits for work before it ends.
IDLE_S = 30.0


class Finished(msgspec.Struct, frozen=True):
    """The call returned ``value``."""

    value: Any


class Raised(msgspec.Struct, frozen=True):
    """The call raised ``error``."""

    error: BaseException


class TimedOut(msgspec.Struct, frozen=True):
    """The call did not end within ``seconds`` of being submitted."""

    seconds: float


Outcome = Finished | Raised | TimedOut


class _Call:
    """One submitted call: settled once, by its end or its timeout, whichever comes first."""

    __slots__ = ("args", "done", "fn", "lock", "settled", "task")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], done: Callable[[Outcome], None]) -> None:
        self.fn = fn
        self.args = args
        self.done = done
        self.lock = threading.Lock()
        self.settled = False
        #: The running task of a coroutine function (on the runner's loop), to cancel at the timeout.
        self.task: asyncio.Future[Any] | None = None

    def cancel(self) -> None:
        """Cancel the coroutine's task, if it runs (on the loop's thread)."""
        if self.task is not None:
            self.task.cancel()

    def settle(self, outcome: Outcome) -> bool:
        """Report ``outcome`` unless the call was settled already; whether this one was reported."""
        with self.lock:
            if self.settled:
                return False
            self.settled = True
        try:
            self.done(outcome)
        except Exception:
            logger.exception("reporting the end of a call raised")
        return True


class CallRunner:
    """Runs calls on its own threads and event loop: at most ``limit`` at once, each within its timeout."""

    def __init__(self, name: str, limit: int, timers: Timers) -> None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit!r}")
        self.name = name
        self.limit = limit
        self._timers = timers
        self._lock = threading.Condition()
        self._queue: collections.deque[_Call] = collections.deque()
        self._running = 0
        self._idle_workers = 0
        self._workers = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    @property
    def running(self) -> int:
        """Calls holding a slot now (a plain function past its timeout still holds one)."""
        with self._lock:
            return self._running

    @property
    def waiting(self) -> int:
        """Calls waiting for a free slot."""
        with self._lock:
            return len(self._queue)

    def run(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        *,
        timeout_s: float | None,
        done: Callable[[Outcome], None],
    ) -> None:
        """Call ``fn(*args)`` off this thread; ``done`` gets its :data:`Outcome` (once, from another thread).

        Once the runner is closed, ``done`` gets ``Raised(RuntimeError)`` at once.
        """
        call = _Call(fn, args, done)
        with self._lock:
            closed = self._closed
            if not closed:
                self._queue.append(call)
                self._dispatch()
        if closed:
            call.settle(Raised(RuntimeError(f"the {self.name} runner is closed")))
            return
        if timeout_s is not None:
            seconds = timeout_s
            self._timers.call_later(seconds, lambda: self._timed_out(call, seconds))

    def close(self) -> None:
        """Refuse new calls, fail the waiting ones and stop the event loop (running functions end on their own)."""
        with self._lock:
            self._closed = True
            waiting = list(self._queue)
            self._queue.clear()
            loop, self._loop = self._loop, None
            self._lock.notify_all()
        for call in waiting:
            call.settle(Raised(RuntimeError(f"the {self.name} runner is closed")))
        if loop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(loop.stop)

    # -- scheduling (under the lock) ---------------------------------------------------------------------------

    def _dispatch(self) -> None:
        """Start what may start: coroutines on the loop; a plain call wakes an idle worker or starts one."""
        queue = self._queue
        while queue and self._running < self.limit:
            call = queue[0]
            if call.settled:  # timed out while it waited
                queue.popleft()
            elif inspect.iscoroutinefunction(call.fn):
                queue.popleft()
                self._running += 1
                self._event_loop().call_soon_threadsafe(self._start_task, call)
            else:
                if self._idle_workers:
                    self._lock.notify()
                elif self._workers < self.limit:
                    self._workers += 1
                    self._idle_workers += 1
                    name = f"codex-actors-{self.name}"
                    threading.Thread(target=self._work, name=name, daemon=True).start()
                return  # the worker takes it, and dispatches what follows

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.new_event_loop()
            name = f"codex-actors-{self.name}-loop"
            threading.Thread(target=_run_loop, args=(loop,), name=name, daemon=True).start()
        return loop

    # -- plain functions: worker threads ----------------------------------------------------------------------

    def _work(self) -> None:
        while (call := self._take()) is not None:
            try:
                value = call.fn(*call.args)
            except BaseException as exc:  # a handler's exception is its outcome, whatever it is
                call.settle(Raised(exc))
            else:
                call.settle(Finished(value))
            with self._lock:
                self._running -= 1
                self._idle_workers += 1
                self._dispatch()

    def _take(self) -> _Call | None:
        """The next plain call for this worker (``None``: it ends, idle for :data:`IDLE_S` or closed)."""
        queue = self._queue
        with self._lock:
            while True:
                while queue and queue[0].settled:
                    queue.popleft()
                if not self._closed and queue and self._running < self.limit:
                    if not inspect.iscoroutinefunction(queue[0].fn):
                        call = queue.popleft()
                        self._idle_workers -= 1
                        self._running += 1
                        self._dispatch()
                        return call
                    self._dispatch()
                    continue
                if self._closed or (not self._lock.wait(IDLE_S) and not self._has_plain_work()):
                    # Timed out, yet work may have come: a notify that raced the timeout is not lost.
                    self._idle_workers -= 1
                    self._workers -= 1
                    return None

    def _has_plain_work(self) -> bool:
        """Whether a waiting call could start now (under the lock)."""
        queue = self._queue
        while queue and queue[0].settled:
            queue.popleft()
        return not self._closed and bool(queue) and self._running < self.limit

    # -- coroutine functions: the event loop ------------------------------------------------------------------

    def _start_task(self, call: _Call) -> None:
        if call.settled:
            self._release()
            return
        try:
            task = asyncio.ensure_future(call.fn(*call.args))
        except BaseException as exc:  # it raised before it awaited anything (bad arguments, not a coroutine)
            call.settle(Raised(exc))
            self._release()
            return
        call.task = task
        task.add_done_callback(functools.partial(self._task_done, call))

    def _task_done(self, call: _Call, task: asyncio.Future[Any]) -> None:
        """The call's task ended (a done callback: it runs even for a task cancelled before it ever started)."""
        call.task = None
        if task.cancelled():  # at its timeout (settled already), or the runner closed
            call.settle(Raised(RuntimeError(f"the {self.name} runner is closed")))
        elif (error := task.exception()) is not None:  # as for a plain function
            call.settle(Raised(error))
        else:
            call.settle(Finished(task.result()))
        self._release()

    def _release(self) -> None:
        with self._lock:
            self._running -= 1
            self._dispatch()

    def _timed_out(self, call: _Call, seconds: float) -> None:
        if not call.settle(TimedOut(seconds)):
            return
        loop = self._loop
        if loop is not None and inspect.iscoroutinefunction(call.fn):
            with contextlib.suppress(RuntimeError):  # the loop is closed
                loop.call_soon_threadsafe(call.cancel)


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        tasks = asyncio.all_tasks(loop)
        for task in tasks:
            task.cancel()
        if tasks:  # each cancelled call settles itself as it unwinds: let it (bounded: one may not unwind)
            with contextlib.suppress(Exception):
                loop.run_until_complete(asyncio.wait(tasks, timeout=CANCEL_GRACE_S))
        loop.close()
