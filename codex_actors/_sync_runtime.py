"""The blocking adapter over the runtime core: submit with a pykka future, wait on it with a timeout.

:class:`SyncRuntime` has the same methods as :class:`~codex_actors._async_runtime.AsyncRuntime`, with the same
arguments; the sync facade (``Codex``, ``Thread``, ``TurnHandle``, the login handles) calls them plainly where
the async one awaits them.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
import pykka

from ._interrupts import is_stopping, wait_stopped
from ._logs import log_timeout
from ._placement import Placement
from ._protocol.generated import AccountLoginCompletedNotification
from ._protocol.jsonrpc import decode_payload
from ._runtime import Runtime
from .actors._directory import ThreadRef
from .actors._messages import TurnStarted
from .errors import CodexError, RequestTimeoutError, TransportClosedError

__all__ = ["SyncRuntime"]

T = TypeVar("T")


class SyncRuntime:
    """Blocking calls on one :class:`~codex_actors._runtime.Runtime`; every wait has a timeout."""

    __slots__ = ("owner", "runtime")

    def __init__(self, runtime: Runtime, owner: object = None) -> None:
        self.runtime = runtime
        #: The client this was handed out by, kept alive while this is (a ``Thread``, a ``TurnHandle``, a login
        #: handle in use keep their ``Codex`` open); ``None`` for the client's own.
        self.owner = owner

    def request(
        self, method: str, params: Any = None, *, timeout: float | None = None, engine: int | None = None
    ) -> msgspec.Raw:
        """Send a request to the engine (``engine``: that one of the pool) and wait for its raw result."""
        future: pykka.Future[msgspec.Raw] = pykka.ThreadingFuture()
        self.runtime.submit(method, params, future, engine)
        return self._wait(future, method, timeout, None)

    def call(self, method: str, params: Any, result_type: type[T], *, timeout: float | None = None) -> T:
        """:meth:`request`, decoded into ``result_type``."""
        return decode_payload(self.request(method, params, timeout=timeout), result_type)

    def thread_request(
        self, thread_id: str, method: str, params: dict[str, Any], *, timeout: float | None = None
    ) -> msgspec.Raw:
        """A request about one thread, through its actor (held while the engine restarts)."""
        future: pykka.Future[msgspec.Raw] = pykka.ThreadingFuture()
        self.runtime.submit_thread(thread_id, method, params, future)
        return self._wait(future, method, timeout, thread_id)

    def thread_call(self, thread_id: str, method: str, params: dict[str, Any], result_type: type[T]) -> T:
        """:meth:`thread_request`, decoded into ``result_type``."""
        return decode_payload(self.thread_request(thread_id, method, params), result_type)

    def start_turn(self, thread_id: str, params: dict[str, Any], *, timeout: float | None = None) -> TurnStarted:
        """Start (or join) a turn: its log, and this caller's cursor in it from the turn's first event."""
        runtime = self.runtime
        if is_stopping(runtime, thread_id):  # a cancelled run's turn first: this must not join it
            wait_stopped(runtime, thread_id, runtime.options.request_timeout)
        future: pykka.Future[TurnStarted] = pykka.ThreadingFuture()
        runtime.submit_turn(thread_id, params, future)
        return self._wait(future, "turn/start", timeout, thread_id)

    def subscribe_turn(self, thread_id: str, turn_id: str) -> TurnStarted:
        """A cursor on the future events of ``turn_id`` (for a handle built by hand)."""
        future: pykka.Future[TurnStarted] = pykka.ThreadingFuture()
        self.runtime.submit_subscription(thread_id, turn_id, future)
        return self._wait(future, "turn subscription", None, thread_id)

    def wait_login(self, login_id: str, timeout: float | None) -> AccountLoginCompletedNotification:
        """The ``account/login/completed`` of ``login_id`` (``TimeoutError`` after ``timeout``, if given)."""
        future: pykka.Future[AccountLoginCompletedNotification] = pykka.ThreadingFuture()
        self.runtime.wait_login(login_id, future)
        try:
            return future.get(timeout=timeout)
        except pykka.Timeout:
            raise TimeoutError(f"login {login_id} did not complete within {timeout:g} s") from None

    def bind_thread(self, thread_id: str) -> pykka.ActorRef[Any]:
        """The running actor of ``thread_id``, started if none runs (its events are routed from now on)."""
        return self.runtime.thread_actor(thread_id)

    def open_thread(self, method: str, params: Any) -> ThreadRef:
        """Send a request that answers a thread (start, resume, fork, unarchive); return the thread's address.

        The thread is then known loaded on the engine that answered (while something refers to the address):
        its actor, when it starts, does not resume it. In a pool, the engine is the :class:`Placement`'s.
        """
        runtime = self.runtime
        placement = Placement(runtime.directory, method, params)
        try:
            while True:
                engine = placement.engine
                generation = runtime.directory.generations[engine]
                try:
                    answer = self.request(method, params, engine=engine)
                except CodexError as exc:
                    if placement.spill(exc):
                        continue
                    raise
                return runtime.opened_by(answer, generation, engine)
        finally:
            placement.release()

    def _wait(self, future: pykka.Future[T], method: str, timeout: float | None, thread_id: str | None) -> T:
        """``future``'s value within ``timeout`` (default: the runtime's request timeout), errors made final.

        On timeout the request is forgotten and :class:`RequestTimeoutError` raised; a closed transport is
        raised as the runtime's final error (its ``EngineCrashed`` once the supervisor gave up).
        """
        runtime = self.runtime
        seconds = runtime.options.request_timeout if timeout is None else timeout
        try:
            return future.get(timeout=seconds)
        except pykka.Timeout:
            runtime.cancel(thread_id, future)
            log_timeout(method, seconds, thread_id)
            raise RequestTimeoutError(method, seconds) from None
        except TransportClosedError as exc:
            raise runtime.final_error(exc) from None
