"""The caller's side of one actor runtime: the root supervisor, the engine, and the thread actors.

The facades (``Codex``, ``Thread``, ``TurnHandle`` and their async twins) hold a :class:`Runtime` and nothing
else. Every wait here has a timeout; every failure is typed: once the supervisor has given up, what would have
been a ``TransportClosedError`` (or pykka's ``ActorDeadError``) is the supervisor's
:class:`~codex_actors.errors.EngineCrashed`.
"""

from __future__ import annotations

import contextlib
from typing import Any, TypeVar

import msgspec
import pykka

from ._config import CodexConfig
from ._engine_requirements import Gate, runtime_version
from ._protocol.jsonrpc import decode_payload
from .actors._messages import (
    CancelRequest,
    GetEngine,
    ReplyTo,
    SendRequest,
    StartEngine,
    StartThread,
    StartTurn,
    ThreadRequest,
    TurnStarted,
    WaitLogin,
)
from .actors._port import EngineConnection, EnginePort, PortOptions
from .actors._reply import reply_error
from .actors._root import RootSupervisor
from .errors import CodexError, EngineCrashed, RequestTimeoutError, TransportClosedError
from .models import initialize_response

__all__ = ["Runtime"]


def _server_version(result: dict[str, Any]) -> str | None:
    try:
        info = initialize_response(result).serverInfo
    except RuntimeError:
        return None
    return None if info is None else info.version


T = TypeVar("T")

NOT_RUNNING = "Codex process is not running"


class Runtime:
    """One supervised runtime: start it, use it from any thread, close it."""

    def __init__(
        self,
        config: CodexConfig | None = None,
        *,
        options: PortOptions | None = None,
        max_restarts: int = 3,
        max_seconds: float = 5.0,
    ) -> None:
        self.config = config or CodexConfig()
        self.options = options or PortOptions()
        # The engine is spawned first, here: it boots for tens of milliseconds while the actor tree starts.
        engine = EnginePort.spawn(self.config, self.options)
        try:
            self.supervisor: pykka.ActorRef[RootSupervisor] = RootSupervisor.start(
                self.config,
                options=self.options,
                max_restarts=max_restarts,
                max_seconds=max_seconds,
                engine=engine,
            )
        except BaseException:  # pragma: no cover - starting an actor thread does not fail
            engine.stop(grace=0.0)
            raise
        self._threads: dict[str, pykka.ActorRef[Any]] = {}
        self._engine: EngineConnection | None = None
        self._closed = False
        try:
            connection: EngineConnection = self.supervisor.ask(
                StartEngine(), block=True, timeout=self.options.connect_timeout + 60
            )
        except BaseException:
            self.close()
            raise
        self.initialize_result: dict[str, Any] = connection.initialize_result
        self.gate = Gate(self.config, runtime_version(_server_version(self.initialize_result)))

    # -- the engine -------------------------------------------------------------------------------------------

    def engine(self) -> EngineConnection:
        """The current engine connection (after a restart, the new one)."""
        if self._closed:
            raise TransportClosedError(NOT_RUNNING)
        cached = self._engine
        if cached is not None and cached.ref.is_alive():
            return cached
        try:
            connection: EngineConnection = self.supervisor.ask(GetEngine(), block=True, timeout=60)
        except pykka.ActorDeadError:
            raise TransportClosedError(NOT_RUNNING) from None
        self._engine = connection
        return connection

    @property
    def engine_is_cached(self) -> bool:
        """Whether :meth:`engine` answers without asking the supervisor (so without blocking)."""
        cached = self._engine
        return cached is not None and cached.ref.is_alive()

    def send_request(self, method: str, params: Any, reply: ReplyTo) -> None:
        """Send a request to the current engine without waiting; its answer goes to ``reply``."""
        self.gate.check(method, params)
        try:
            self.engine().ref.tell(SendRequest(method, params, reply))
        except pykka.ActorDeadError:
            reply_error(reply, self.translate(TransportClosedError(NOT_RUNNING)))
        except TransportClosedError as exc:
            reply_error(reply, self.translate(exc))

    def wait_login(self, login_id: str, reply: ReplyTo) -> None:
        """Have ``reply`` answered with the ``account/login/completed`` of ``login_id``."""
        try:
            self.supervisor.tell(WaitLogin(login_id, reply))
        except pykka.ActorDeadError:
            reply_error(reply, TransportClosedError(NOT_RUNNING))

    def request(self, method: str, params: Any = None, *, timeout: float | None = None) -> msgspec.Raw:
        """Send a request to the current engine and wait for its raw result."""
        self.gate.check(method, params)
        try:
            return self.engine().request(method, params, timeout=timeout)
        except TransportClosedError as exc:
            raise self.translate(exc) from None

    def call(self, method: str, params: Any, result_type: type[T], *, timeout: float | None = None) -> T:
        """:meth:`request`, decoded into ``result_type``."""
        return decode_payload(self.request(method, params, timeout=timeout), result_type)

    # -- threads ----------------------------------------------------------------------------------------------

    def has_thread_actor(self, thread_id: str) -> bool:
        """Whether :meth:`thread_actor` answers without asking the supervisor (so without blocking)."""
        ref = self._threads.get(thread_id)
        return ref is not None and ref.is_alive()

    def thread_actor(self, thread_id: str) -> pykka.ActorRef[Any]:
        """The actor of ``thread_id``, started if it is not running."""
        ref = self._threads.get(thread_id)
        if ref is not None and ref.is_alive():
            return ref
        if self._closed:
            raise TransportClosedError(NOT_RUNNING)
        try:
            started: pykka.ActorRef[Any] = self.supervisor.ask(StartThread(thread_id), block=True, timeout=60)
        except pykka.ActorDeadError:
            raise TransportClosedError(NOT_RUNNING) from None
        self._threads[thread_id] = started
        return started

    def thread_request(
        self, thread_id: str, method: str, params: dict[str, Any], *, timeout: float | None = None
    ) -> msgspec.Raw:
        """A request about one thread, through its actor (held while the engine restarts)."""
        future: pykka.Future[msgspec.Raw] = pykka.ThreadingFuture()
        self.send_to_thread(thread_id, ThreadRequest(method, params, future))
        return self._wait(future, method, timeout, thread_id)

    def start_turn(self, thread_id: str, params: dict[str, Any], *, timeout: float | None = None) -> TurnStarted:
        """Start (or join) a turn; the answer holds the turn's log and this caller's subscriber id in it."""
        self.gate.check("turn/start", params)
        future: pykka.Future[TurnStarted] = pykka.ThreadingFuture()
        self.send_to_thread(thread_id, StartTurn(params, future))
        return self._wait(future, "turn/start", timeout, thread_id)

    def cancel(self, thread_id: str, reply: ReplyTo) -> None:
        """Forget a request of ``thread_id`` whose caller stopped waiting (best effort, never raises)."""
        ref = self._threads.get(thread_id)
        if ref is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                ref.tell(CancelRequest(reply))

    def send_to_thread(self, thread_id: str, message: Any) -> None:
        """Tell a thread's actor ``message`` (starting the actor if needed); failures raise typed errors."""
        try:
            self.thread_actor(thread_id).tell(message)
        except pykka.ActorDeadError:
            self._threads.pop(thread_id, None)
            try:
                self.thread_actor(thread_id).tell(message)
            except (pykka.ActorDeadError, TransportClosedError) as exc:
                raise self.translate(TransportClosedError(NOT_RUNNING)) from exc
        except TransportClosedError as exc:
            raise self.translate(exc) from None

    def _wait(self, future: pykka.Future[T], method: str, timeout: float | None, thread_id: str) -> T:
        wait = self.options.request_timeout if timeout is None else timeout
        try:
            return future.get(timeout=wait)
        except pykka.Timeout:
            self.cancel(thread_id, future)
            raise RequestTimeoutError(method, wait) from None
        except TransportClosedError as exc:
            raise self.translate(exc) from None

    # -- errors and lifecycle ---------------------------------------------------------------------------------

    def translate(self, error: TransportClosedError) -> CodexError:
        """``error``, or the supervisor's :class:`EngineCrashed` if it has given up."""
        if isinstance(error, EngineCrashed) or self._closed:
            return error
        try:
            self.supervisor.ask(GetEngine(), block=True, timeout=10)
        except EngineCrashed as crashed:
            return crashed
        except (pykka.ActorDeadError, pykka.Timeout, TransportClosedError):
            pass
        return error

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def close(self, timeout: float = 60.0) -> None:
        """Stop the whole tree: threads, engine (stdin, SIGTERM, SIGKILL) and services. Idempotent."""
        self._closed = True
        self._threads.clear()
        self._engine = None
        with contextlib.suppress(pykka.ActorDeadError):
            self.supervisor.stop(block=True, timeout=timeout)
