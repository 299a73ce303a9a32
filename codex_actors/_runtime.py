"""The runtime core: one supervised actor tree and its engine, used by submitting, never by waiting.

A :class:`Runtime` starts the tree (blocking: the engine is spawned and answers ``initialize``), then only
*submits*: a request, a thread's message, a login wait, each with the ``reply`` its answer goes to (a pykka
future, an actor, a callback). Waiting is the adapters' business: :mod:`codex_actors._sync_runtime` blocks on
a future with a timeout, :mod:`codex_actors._async_runtime` awaits a loop future without holding a thread.

Every failure is typed, and never needs a question to the supervisor: once it has given up, what would have
been a ``TransportClosedError`` is its :class:`~codex_actors.errors.EngineCrashed` (see :meth:`final_error`).
A thread's messages go through its address (:class:`~codex_actors.actors.ThreadRef`, by thread id), which
reaches whichever actor of the thread runs and has one started when none does. A plain request made while the
engine restarts (or that reaches an engine that has just died, before it was written) is held by the root
supervisor and sent on the new engine: the caller's own timeout bounds the wait. Two lookups may block on the
supervisor: a thread whose actor does not run (:meth:`thread_actor`, briefly) and the engine connection
(:meth:`connection`, until a restart under way ends); ``has_*`` tell whether they would.

With an engine pool (``CodexConfig.engines``) there is a connection per engine; which engine a request goes to
is :mod:`codex_actors._placement`'s business (a thread's requests go to its engine).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
from typing import Any

import msgspec
import pykka

from ._config import CodexConfig, resolve
from ._engine_requirements import FieldRequirements, runtime_version
from ._failures import fresh, not_running
from ._otel import current_trace_context
from ._placement import every_engine, route
from ._protocol.generated import LoginAccountParamsApiKey
from ._protocol.jsonrpc import decode_payload, wire_params
from .actors._connection import EngineConnection
from .actors._directory import ThreadDirectory, ThreadRef
from .actors._engine_slot import redirected
from .actors._messages import (
    CancelRequest,
    GetConnection,
    HoldRequest,
    ReleaseThread,
    StartEngine,
    StartTurn,
    SubscribeTurn,
    ThreadRequest,
    WaitLogin,
)
from .actors._options import RuntimeOptions
from .actors._process import EngineProcess
from .actors._reply import CallbackReply, ReplyTo, reply_error, reply_value
from .actors._root import Escalation, RootSupervisor
from .errors import EngineCrashed, TransportClosedError
from .models import initialize_response

__all__ = ["Runtime"]

logger = logging.getLogger("codex_actors.runtime")


class _ThreadId(msgspec.Struct):
    id: str


class _ThreadAnswer(msgspec.Struct):
    """The part of a thread start, resume, fork or unarchive answer that names the thread (and its model)."""

    thread: _ThreadId
    model: str | None = None


#: Seconds a lookup waits for the root supervisor (it answers at once unless it is restarting the engine).
SUPERVISOR_TIMEOUT = 60.0


class _EveryEngine:
    """A request for every engine of a pool (a login), sent to one after the other, each once the last answered.

    The engines share ``CODEX_HOME``, where a login is written: one at a time, none reads another's half-written
    file. The caller gets the first engine's answer once the last engine answered (its error at once); the
    others' errors are only logged (a restarted engine reads the login from ``CODEX_HOME``).
    """

    __slots__ = ("answer", "method", "params", "reply", "runtime")

    def __init__(self, runtime: Runtime, method: str, params: Any, reply: ReplyTo) -> None:
        self.runtime, self.method, self.params, self.reply = runtime, method, params, reply
        self.answer: Any = None

    def send(self, engine: int) -> None:
        """Send to ``engine`` (past the last one: answer the caller)."""
        if engine == self.runtime.engines:
            reply_value(self.reply, self.answer)
        else:
            self.runtime._send(
                engine, self.method, self.params, CallbackReply(functools.partial(self._answered, engine))
            )

    def _answered(self, engine: int, value: Any, error: BaseException | None) -> None:
        if engine == 0:
            if error is not None:
                reply_error(self.reply, error)
                return
            self.answer = value
        elif error is not None:
            logger.warning("%s on engine %d of the pool failed: %s", self.method, engine, error)
        self.send(engine + 1)


def _server_version(result: dict[str, Any]) -> str | None:
    try:
        info = initialize_response(result).serverInfo
    except RuntimeError:
        return None
    return None if info is None else info.version


class Runtime:
    """One supervised runtime: start it, submit to it from any thread, close it."""

    def __init__(
        self,
        config: CodexConfig | None = None,
        *,
        options: RuntimeOptions | None = None,
        max_restarts: int | None = None,
    ) -> None:
        # The environment layer: CODEX_API_KEY and CODEX_URL fill api_key and base_url when they are unset.
        self.config = resolve(config or CodexConfig(), os.environ)
        if max_restarts is not None:  # a shortcut for tests: the config's limit, replaced
            self.config = dataclasses.replace(self.config, max_restarts=max_restarts)
        self.options = (options or RuntimeOptions()).for_config(self.config)
        self._escalation = Escalation()
        #: Every thread something refers to, and the address of each.
        count = self.options.engines
        self.directory = ThreadDirectory(self._escalation, count)
        #: Each engine's connection, as last known (``None``: not known yet, or its engine restarts).
        self._connections: list[EngineConnection | None] = [None] * count
        self._refreshing: set[int] = set()
        self._closed = False
        # The (first) engine is spawned first, here: it boots for tens of milliseconds while the actor tree
        # starts. The others of a pool start once it is up (see RootSupervisor._start_engines).
        engine = EngineProcess.launch(self.config, self.options)
        try:
            self.supervisor: pykka.ActorRef[RootSupervisor] = RootSupervisor.start(
                self.config,
                options=self.options,
                engine=engine,
                escalation=self._escalation,
                directory=self.directory,
            )
        except BaseException:  # pragma: no cover - starting an actor thread does not fail
            engine.stop(grace=0.0)
            raise
        self.directory.supervisor = self.supervisor
        try:
            connections: list[EngineConnection] = self.supervisor.ask(
                StartEngine(), block=True, timeout=self.options.connect_timeout * count + SUPERVISOR_TIMEOUT
            )
        except BaseException:
            self.close()
            raise
        self._connections = list(connections)
        if self.config.api_key is not None:
            for connection in connections:
                self._log_in(connection, self.config.api_key)
        self.initialize_result: dict[str, Any] = connections[0].initialize_result
        version = runtime_version(_server_version(self.initialize_result))
        self.requirements = FieldRequirements(self.config, version)

    def _log_in(self, connection: EngineConnection, api_key: str) -> None:
        """Log the engine in with ``CodexConfig.api_key`` (kept in its ``CODEX_HOME``: a restarted engine is too).

        ``codex app-server`` ignores API keys in its environment; this is the official ``login_api_key`` request.
        The key is in no log line (the request log names the method only) and in no argv.
        """
        try:
            params = wire_params(LoginAccountParamsApiKey(api_key=api_key))
            connection.request("account/login/start", params, timeout=self.options.request_timeout)
        except BaseException:
            self.close()
            raise

    # -- errors -----------------------------------------------------------------------------------------------

    def final_error(self, error: BaseException) -> BaseException:
        """``error``, or (for a closed transport) the supervisor's :class:`EngineCrashed` once it gave up."""
        crashed = self._escalation.error
        if crashed is None or self._closed or isinstance(error, EngineCrashed):
            return error
        return fresh(crashed) if isinstance(error, TransportClosedError) else error

    def _check_usable(self) -> None:
        if self._closed:
            raise not_running()
        crashed = self._escalation.error
        if crashed is not None:
            raise fresh(crashed)

    # -- the engine -------------------------------------------------------------------------------------------

    @property
    def engines(self) -> int:
        """How many engines serve this runtime (``CodexConfig.engines``)."""
        return len(self._connections)

    def engine_for(self, params: Any) -> int:
        """The engine of the pool a plain request with ``params`` goes to (its thread's, or the first)."""
        return route(self.directory, params)

    def has_connection(self, engine: int = 0) -> bool:
        """Whether :meth:`connection` answers without asking the supervisor (so without blocking)."""
        cached = self._connections[engine]
        return cached is not None and cached.alive

    def connection(self, timeout: float = SUPERVISOR_TIMEOUT, engine: int = 0) -> EngineConnection:
        """Engine ``engine``'s connection; while it restarts, the new one once up (at most ``timeout`` s)."""
        self._check_usable()
        cached = self._connections[engine]
        if cached is not None and cached.alive:
            return cached
        future: pykka.Future[EngineConnection] = pykka.ThreadingFuture()
        try:
            self.supervisor.tell(GetConnection(future, engine))
            connection = future.get(timeout=timeout)
        except pykka.ActorDeadError:
            raise not_running() from None
        except pykka.Timeout:
            self.supervisor.tell(CancelRequest(future))
            raise TransportClosedError(f"no engine came up within {timeout:g} s") from None
        except TransportClosedError as exc:
            raise self.final_error(exc) from None
        self._connections[engine] = connection
        return connection

    def submit(self, method: str, params: Any, reply: ReplyTo, engine: int | None = None) -> None:
        """Send a request to an engine (during its restart: to the new one, once up); the answer goes to ``reply``.

        Never blocks. ``engine``: which engine of the pool (by default, the one :mod:`codex_actors._placement`
        routes it to). A field this engine is too old for raises ``CodexError`` here (nothing is sent); every
        other failure goes to ``reply``. A request that never reached the engine because it had just died is
        sent again on the next one (see the module docstring).
        """
        self.requirements.check(method, params)
        try:
            self._check_usable()
        except TransportClosedError as exc:
            reply_error(reply, self.final_error(exc))
            return
        if engine is None:
            if self.engines > 1 and every_engine(method, params):
                _EveryEngine(self, method, params, reply).send(0)
                return
            engine = self.engine_for(params)
        self._send(engine, method, params, reply)

    def _send(self, engine: int, method: str, params: Any, reply: ReplyTo) -> None:
        connection = self._connections[engine]
        if connection is not None and connection.alive:
            connection.send(method, params, redirected(self.supervisor, connection, method, params, reply))
            return
        try:
            self.supervisor.tell(HoldRequest(method, params, reply, engine=engine))
        except pykka.ActorDeadError:
            reply_error(reply, self.final_error(not_running()))
            return
        self._refresh_connection(engine)

    def _refresh_connection(self, engine: int) -> None:
        """Have the cached connection replaced by the new engine's once it is up (one ask at a time)."""
        if engine in self._refreshing:
            return
        self._refreshing.add(engine)
        with contextlib.suppress(pykka.ActorDeadError):
            self.supervisor.tell(GetConnection(CallbackReply(functools.partial(self._refreshed, engine)), engine))

    def _refreshed(self, engine: int, connection: EngineConnection | None, error: BaseException | None) -> None:
        self._refreshing.discard(engine)
        if error is None and connection is not None and not self._closed:
            self._connections[engine] = connection

    def cancel(self, thread_id: str | None, reply: ReplyTo) -> None:
        """Forget a request whose caller stopped waiting (best effort, never raises)."""
        if thread_id is None:
            for connection in self._connections:
                if connection is not None:
                    connection.cancel(reply)
            with contextlib.suppress(pykka.ActorDeadError):  # it may be held for a restarting engine
                self.supervisor.tell(CancelRequest(reply))
            return
        ref = self.directory.live_ref(thread_id)
        if ref is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                ref.tell(CancelRequest(reply))

    def wait_login(self, login_id: str, reply: ReplyTo) -> None:
        """Have ``reply`` answered with the ``account/login/completed`` of ``login_id``."""
        try:
            self.supervisor.tell(WaitLogin(login_id, reply))
        except pykka.ActorDeadError:
            reply_error(reply, not_running())

    # -- threads ----------------------------------------------------------------------------------------------

    def thread_ref(self, thread_id: str) -> ThreadRef:
        """The address of ``thread_id``'s actor (nothing is started until a message is sent to it)."""
        return self.directory.ref(thread_id)

    def opened(self, thread_id: str, generation: int, engine: int = 0) -> ThreadRef:
        """``engine`` (``generation``) answered a start, resume, fork or unarchive of ``thread_id``: its address.

        The thread is known loaded there while something refers to the address (or to the thread's actor).
        """
        return self.directory.mark_loaded(thread_id, generation, engine)

    def opened_by(self, answer: msgspec.Raw, generation: int, engine: int = 0) -> ThreadRef:
        """:meth:`opened`, for the raw answer to a thread start, resume, fork or unarchive."""
        decoded = decode_payload(answer, _ThreadAnswer)
        address = self.opened(decoded.thread.id, generation, engine)
        if decoded.model is not None:
            self.directory.entry(decoded.thread.id).model = decoded.model
        return address

    def release_thread(self, thread_id: str) -> None:
        """A ``Thread`` object of ``thread_id`` is gone: its actor may hibernate once idle (never raises)."""
        ref = None if self._closed else self.directory.live_ref(thread_id)
        if ref is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                ref.tell(ReleaseThread())

    def has_thread_actor(self, thread_id: str) -> bool:
        """Whether :meth:`thread_actor` answers without asking the supervisor (so without blocking)."""
        return self.directory.live_ref(thread_id) is not None

    def thread_actor(self, thread_id: str) -> pykka.ActorRef[Any]:
        """The running actor of ``thread_id``, started if none runs; may wait for the supervisor."""
        ref = self.directory.live_ref(thread_id)
        if ref is not None:
            return ref
        self._check_usable()
        try:
            return self.directory.revive(thread_id)
        except TransportClosedError as exc:
            raise self.final_error(exc) from None

    def submit_thread(self, thread_id: str, method: str, params: dict[str, Any], reply: ReplyTo) -> None:
        """A request about one thread, through its actor (held there while the engine restarts)."""
        self._tell_thread(thread_id, ThreadRequest(method, params, reply))

    def submit_turn(self, thread_id: str, params: dict[str, Any], reply: ReplyTo) -> None:
        """Start (or join) a turn; ``reply`` gets its ``TurnStarted`` (the log, and this caller's cursor).

        With OpenTelemetry installed and a span current in the caller, its trace context goes with the turn.
        """
        self.requirements.check("turn/start", params)
        self._tell_thread(thread_id, StartTurn(params, reply, current_trace_context()))

    def submit_subscription(self, thread_id: str, turn_id: str, reply: ReplyTo) -> None:
        """A cursor on ``turn_id``'s future events; ``reply`` gets its ``TurnStarted``."""
        self._tell_thread(thread_id, SubscribeTurn(turn_id, False, reply))

    def _tell_thread(self, thread_id: str, message: Any) -> None:
        directory = self.directory
        try:
            directory.deliver(directory.entry(thread_id), message)
        except TransportClosedError as exc:
            raise self.final_error(exc) from None

    # -- lifecycle --------------------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def close(self, timeout: float = 60.0) -> None:
        """Stop the whole tree: threads, engine (stdin, SIGTERM, SIGKILL) and services. Idempotent."""
        self._closed = True
        self.directory.closed = True
        self._connections = [None] * len(self._connections)
        with contextlib.suppress(pykka.ActorDeadError):
            self.supervisor.stop(block=True, timeout=timeout)
