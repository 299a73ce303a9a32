"""The asyncio adapter over the runtime core: submit with a callback reply, await a loop future.

:class:`AsyncRuntime` starts its :class:`~codex_actors._runtime.Runtime` lazily, exactly once even under
concurrent first use (and again after :meth:`AsyncRuntime.close`). Waiting never holds an executor thread: a
request's answer completes an asyncio future on the loop (:class:`~codex_actors._waiter.Waiter`). Only
starting the runtime and the rare blocking lookup (a thread's actor not used before) run in a worker thread; a
request made while the engine restarts is held by the runtime core, not by a thread. Its methods are
:class:`~codex_actors._sync_runtime.SyncRuntime`'s, awaited.

A caller cancelled while it waits stops waiting at once; what the answer would have given it is released when
it comes (a turn's cursor; with ``interrupt_if_cancelled``, the turn itself is interrupted: see
:mod:`codex_actors._interrupts`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import msgspec

from ._config import CodexConfig
from ._interrupts import Stopping, interrupt_turn, is_stopping, stopping, wait_stopped
from ._logs import log_timeout
from ._placement import Placement
from ._protocol.generated import AccountLoginCompletedNotification
from ._protocol.jsonrpc import decode_payload
from ._runtime import Runtime
from ._waiter import Waiter
from .actors._directory import ThreadRef
from .actors._messages import TurnStarted
from .actors._turnlog import TurnLog
from .errors import CodexError, RequestTimeoutError, TransportClosedError
from .models import Notification

__all__ = ["NOT_INITIALIZED", "AsyncRuntime"]

T = TypeVar("T")

NOT_INITIALIZED = (
    "AsyncCodex is not initialized yet. Prefer `async with AsyncCodex()`; "
    "initialization also happens on first awaited API use."
)


def _release(started: Any) -> None:
    """A turn start whose caller was cancelled: give up its cursor, so its log is not kept for it."""
    if isinstance(started, TurnStarted):
        started.log.unsubscribe(started.subscriber)


def _stop_abandoned(
    runtime: Runtime, thread_id: str, token: Stopping, answer: asyncio.Future[TurnStarted]
) -> None:
    """The ``turn/start`` answer of a cancelled ``run()``: give up its cursor and interrupt its turn."""
    if answer.cancelled() or answer.exception() is not None:
        token.done()  # no turn was started
        return
    started = answer.result()
    _release(started)
    interrupt_turn(runtime, thread_id, started.log, token)


class AsyncRuntime:
    """Awaitable calls on one lazily started :class:`~codex_actors._runtime.Runtime`.

    ``on_start(runtime)`` runs once per start (the facade validates the engine's ``initialize`` answer there);
    if it raises, that runtime is closed and the error raised to the caller.
    """

    def __init__(
        self, config: CodexConfig | None = None, *, on_start: Callable[[Runtime], None] | None = None
    ) -> None:
        self._config = config
        self._on_start = on_start
        self._runtime: Runtime | None = None
        self._lock = asyncio.Lock()

    @property
    def started(self) -> Runtime | None:
        """The runtime if it was started and not closed (never raises)."""
        runtime = self._runtime
        return None if runtime is None or runtime.closed else runtime

    @property
    def runtime(self) -> Runtime:
        """The started runtime (``RuntimeError`` before the first awaited use)."""
        runtime = self._runtime
        if runtime is None:
            raise RuntimeError(NOT_INITIALIZED)
        return runtime

    async def start(self) -> Runtime:
        """The runtime, started (in a worker thread) if it is not up."""
        runtime = self._runtime
        if runtime is not None and not runtime.closed:
            return runtime
        async with self._lock:
            runtime = self._runtime
            if runtime is not None and not runtime.closed:
                return runtime
            runtime = await asyncio.to_thread(Runtime, self._config)
            if self._on_start is not None:
                try:
                    self._on_start(runtime)
                except BaseException:
                    await asyncio.to_thread(runtime.close)
                    raise
            self._runtime = runtime
            return runtime

    async def close(self) -> None:
        """Stop the runtime (the next awaited call starts a fresh one)."""
        runtime = self._runtime
        if runtime is not None:
            await asyncio.to_thread(runtime.close)

    async def request(
        self, method: str, params: Any = None, *, timeout: float | None = None, engine: int | None = None
    ) -> msgspec.Raw:
        """Send a request to the engine (``engine``: that one of the pool) and await its raw result."""
        runtime = await self.start()
        waiter: Waiter[msgspec.Raw] = Waiter()
        runtime.submit(method, params, waiter.reply, engine)
        return await self._settle(runtime, waiter, method, timeout, None)

    async def call(self, method: str, params: Any, result_type: type[T], *, timeout: float | None = None) -> T:
        """:meth:`request`, decoded into ``result_type``."""
        return decode_payload(await self.request(method, params, timeout=timeout), result_type)

    async def thread_request(
        self, thread_id: str, method: str, params: dict[str, Any], *, timeout: float | None = None
    ) -> msgspec.Raw:
        """A request about one thread, through its actor (held while the engine restarts)."""
        runtime = await self._thread_runtime(thread_id)
        waiter: Waiter[msgspec.Raw] = Waiter()
        runtime.submit_thread(thread_id, method, params, waiter.reply)
        return await self._settle(runtime, waiter, method, timeout, thread_id)

    async def thread_call(self, thread_id: str, method: str, params: dict[str, Any], result_type: type[T]) -> T:
        """:meth:`thread_request`, decoded into ``result_type``."""
        return decode_payload(await self.thread_request(thread_id, method, params), result_type)

    async def start_turn(
        self,
        thread_id: str,
        params: dict[str, Any],
        *,
        timeout: float | None = None,
        interrupt_if_cancelled: bool = False,
    ) -> TurnStarted:
        """Start (or join) a turn: its log, and this caller's cursor in it from the turn's first event.

        Cancelled before the answer is taken, the cursor is released when it comes; with
        ``interrupt_if_cancelled`` (``AsyncThread.run``) the turn is then interrupted too, and the thread's next
        ``turn/start`` waits until it is (so it is a new turn, not a join of this one).
        """
        runtime = await self._thread_runtime(thread_id)
        if is_stopping(runtime, thread_id):  # a cancelled run's turn first: this must not join it
            await asyncio.to_thread(wait_stopped, runtime, thread_id, runtime.options.request_timeout)
        waiter: Waiter[TurnStarted] = Waiter(on_abandoned=_release)
        runtime.submit_turn(thread_id, params, waiter.reply)
        try:
            return await self._settle(
                runtime, waiter, "turn/start", timeout, thread_id, keep=interrupt_if_cancelled
            )
        except asyncio.CancelledError:
            future = waiter.future
            if interrupt_if_cancelled:  # the answer (now, or when it comes) names the turn to interrupt
                token = stopping(runtime, thread_id)
                future.add_done_callback(partial(_stop_abandoned, runtime, thread_id, token))
            elif future.done() and not future.cancelled() and future.exception() is None:
                _release(future.result())  # answered, but cancelled before this task could take the answer
            raise

    def interrupt_turn(self, thread_id: str, log: TurnLog[Notification]) -> None:
        """Interrupt the turn of ``log``, fire and forget (:func:`~codex_actors._interrupts.interrupt_turn`)."""
        runtime = self._runtime
        if runtime is not None:
            interrupt_turn(runtime, thread_id, log)

    async def wait_login(self, login_id: str, timeout: float | None) -> AccountLoginCompletedNotification:
        """The ``account/login/completed`` of ``login_id`` (``TimeoutError`` after ``timeout``, if given)."""
        runtime = await self.start()
        waiter: Waiter[AccountLoginCompletedNotification] = Waiter()
        runtime.wait_login(login_id, waiter.reply)
        try:
            return await asyncio.wait_for(waiter.future, timeout)
        except TimeoutError:
            raise TimeoutError(f"login {login_id} did not complete within {timeout:g} s") from None

    async def open_thread(self, method: str, params: Any) -> ThreadRef:
        """Send a request that answers a thread (start, resume, fork, unarchive); return the thread's address."""
        runtime = await self.start()
        placement = Placement(runtime.directory, method, params)
        try:
            while True:
                engine = placement.engine
                generation = runtime.directory.generations[engine]
                try:
                    answer = await self.request(method, params, engine=engine)
                except CodexError as exc:
                    if placement.spill(exc):
                        continue
                    raise
                return runtime.opened_by(answer, generation, engine)
        finally:
            placement.release()

    async def _thread_runtime(self, thread_id: str) -> Runtime:
        runtime = await self.start()
        if not runtime.has_thread_actor(thread_id):
            await asyncio.to_thread(runtime.thread_actor, thread_id)
        return runtime

    @staticmethod
    async def _settle(
        runtime: Runtime,
        waiter: Waiter[T],
        method: str,
        timeout: float | None,
        thread_id: str | None,
        *,
        keep: bool = False,
    ) -> T:
        """The waiter's answer within the timeout; ``keep``: a cancelled caller leaves the answer to come.

        Without ``keep`` the waiter's future is cancelled with its caller (a late answer goes to its
        ``on_abandoned``); with it, the future still gets the answer, for whoever the caller handed it to.
        """
        seconds = runtime.options.request_timeout if timeout is None else timeout
        future = waiter.future
        try:
            # Not wait_for: on 3.11 it can swallow a cancellation that races the answer (returning the answer).
            async with asyncio.timeout(seconds):
                return await (asyncio.shield(future) if keep else future)
        except TimeoutError:
            future.cancel()  # a late answer goes to on_abandoned
            runtime.cancel(thread_id, waiter.reply)
            log_timeout(method, seconds, thread_id)
            raise RequestTimeoutError(method, seconds) from None
        except TransportClosedError as exc:
            raise runtime.final_error(exc) from None
