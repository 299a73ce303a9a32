"""Cancel means stop: fire-and-forget ``turn/interrupt`` for turns whose caller gave up, from any thread.

A cancelled ``AsyncThread.run()``/``AsyncTurnHandle.run()``, or a stream closed with ``interrupt_on_close=True``,
calls :func:`interrupt_turn`: it never blocks, never raises, and nobody waits for the engine's answer.

Two things the engine does shape it (both seen on 0.163.0):

* A turn whose ``turn/start`` was just answered may not have begun yet; the engine then answers
  ``turn/interrupt`` with "no active turn to interrupt". The interrupt is sent again when the turn's log shows
  new events (a few times at most), until the engine takes it or the turn ends.
* A ``turn/start`` on a thread whose turn is still active joins that turn. So while a turn of a thread is being
  stopped (from the moment its ``run()`` was cancelled, even before its ``turn/start`` was answered, until the
  interrupt is taken or the turn ended) the thread's next ``turn/start`` waits (:func:`wait_stopped`): the next
  turn is a new one, not a join of the abandoned one.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any

from ._runtime import Runtime
from .actors._reply import CallbackReply
from .actors._turnlog import TurnLog
from .errors import InvalidRequestError
from .models import Notification

__all__ = ["INTERRUPT_ATTEMPTS", "Stopping", "interrupt_turn", "is_stopping", "stopping", "wait_stopped"]

logger = logging.getLogger("codex_actors.interrupts")

#: How many times a refused ``turn/interrupt`` is sent (each again only after the turn showed new events).
INTERRUPT_ATTEMPTS = 20

_lock = threading.Lock()
_stopping: weakref.WeakKeyDictionary[Runtime, dict[str, set[Stopping]]] = weakref.WeakKeyDictionary()


class Stopping:
    """A turn of one thread being stopped; the thread's next ``turn/start`` waits until it is :meth:`done`."""

    __slots__ = ("_event", "runtime", "thread_id")

    def __init__(self, runtime: Runtime, thread_id: str) -> None:
        self.runtime, self.thread_id = runtime, thread_id
        self._event = threading.Event()

    def done(self) -> None:
        """The turn is stopped (or nothing more can be done): let the thread's next turn start. Idempotent."""
        self._event.set()
        with _lock:
            threads = _stopping.get(self.runtime)
            if threads is not None:
                waiting = threads.get(self.thread_id)
                if waiting is not None:
                    waiting.discard(self)
                    if not waiting:
                        del threads[self.thread_id]

    def wait(self, timeout: float | None) -> bool:
        """Block until :meth:`done` (or ``timeout``); whether it was done."""
        return self._event.wait(timeout)


def stopping(runtime: Runtime, thread_id: str) -> Stopping:
    """Register a turn of ``thread_id`` being stopped (call :meth:`Stopping.done` when it is)."""
    token = Stopping(runtime, thread_id)
    with _lock:
        _stopping.setdefault(runtime, {}).setdefault(thread_id, set()).add(token)
    return token


def is_stopping(runtime: Runtime, thread_id: str) -> bool:
    """Whether a turn of ``thread_id`` is being stopped (so a ``turn/start`` now should wait for it)."""
    threads = _stopping.get(runtime)
    return bool(threads and threads.get(thread_id))


def wait_stopped(runtime: Runtime, thread_id: str, timeout: float) -> None:
    """Block until every turn of ``thread_id`` being stopped is (each waited for at most ``timeout`` seconds)."""
    with _lock:
        threads = _stopping.get(runtime)
        waiting = list(threads.get(thread_id, ())) if threads else []
    for token in waiting:
        if not token.wait(timeout):  # pragma: no cover - an interrupt is answered, or its turn ends, in ms
            logger.debug("a turn of thread %s was not stopped within %g s; starting anyway", thread_id, timeout)


def interrupt_turn(
    runtime: Runtime, thread_id: str, log: TurnLog[Notification], token: Stopping | None = None
) -> None:
    """Interrupt the turn of ``log`` and return at once (fire and forget; never blocks, never raises).

    ``token`` (from :func:`stopping`) is the registration to complete once the interrupt is taken or the turn
    ended; without one, a new one is registered. A failure (the runtime is closed) is logged at DEBUG.
    """
    if log.done:
        if token is not None:
            token.done()
        return
    _Interrupt(runtime, thread_id, log, token or stopping(runtime, thread_id)).send()


class _Interrupt:
    """One interrupt of a turn, with its own cursor (from now on) in the turn's log."""

    __slots__ = ("attempts", "log", "params", "runtime", "subscriber", "thread_id", "token")

    def __init__(self, runtime: Runtime, thread_id: str, log: TurnLog[Notification], token: Stopping) -> None:
        self.runtime, self.thread_id, self.log, self.token = runtime, thread_id, log, token
        self.params = {"threadId": thread_id, "turnId": log.turn_id}
        self.subscriber = log.subscribe(from_start=False)  # before sending: every later event is seen
        self.attempts = 0

    def send(self) -> None:
        """Send ``turn/interrupt`` (through the thread's actor when it runs, else straight to the engine)."""
        if self.log.done:
            self.finish()
            return
        self.attempts += 1
        runtime, thread_id = self.runtime, self.thread_id
        reply = CallbackReply(self.answered)
        try:
            if runtime.has_thread_actor(thread_id):
                runtime.submit_thread(thread_id, "turn/interrupt", self.params, reply)
            elif runtime.has_connection(runtime.engine_for(self.params)):
                runtime.submit("turn/interrupt", self.params, reply)
            else:  # the engine is restarting: the turn ends with the old engine
                logger.debug("turn/interrupt of turn %s not sent: no engine connection", self.log.turn_id)
                self.finish()
        except Exception as exc:
            logger.debug("turn/interrupt of turn %s not sent: %s", self.log.turn_id, exc)
            self.finish()

    def answered(self, _value: Any, error: BaseException | None) -> None:
        """The engine's answer (on the reader thread): done, or wait for the turn to begin and send again."""
        if error is None:
            self.finish()
        elif isinstance(error, InvalidRequestError) and self.attempts < INTERRUPT_ATTEMPTS and not self.log.done:
            self.wait()  # "no active turn to interrupt": the turn has not begun in the engine yet
        else:
            logger.debug("turn/interrupt of turn %s failed: %s", self.log.turn_id, error)
            self.finish()

    def wait(self) -> None:
        """Send again once the log has new events (now, or when its writer wakes this); stop at its end."""
        try:
            events = self.log.take_or_wake(self.subscriber, self.wait)
        except Exception:  # the log ended with an error (the engine died), or this cursor was closed
            self.finish()
            return
        if events is None:
            return
        if events:
            self.send()
        else:  # the log ended: the turn is over
            self.finish()

    def finish(self) -> None:
        """Release the cursor and the thread's next turn (idempotent)."""
        self.log.unsubscribe(self.subscriber)
        self.token.done()
