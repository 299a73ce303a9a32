"""The root supervisor: the tree of one ``Codex`` runtime.

```
RootSupervisor (one-for-one, CodexConfig.max_restarts in restart_window_s: 3 in 5 s by default)
 ├── telemetry       TelemetryActor     permanent
 ├── tools           ToolRegistry       permanent
 ├── approvals       ApprovalBroker     permanent
 ├── engine          EnginePort         permanent, started by the StartEngine ask (so its first start's
 │                                      error reaches the caller); a restart is a fresh engine process,
 │                                      acknowledged once it answers initialize (see below). A pool
 │                                      (CodexConfig.engines = N) has N: engine:0 ... engine:<N-1>
 └── thread:<id> (N) ThreadActor        transient: restarted only after a crash; a child only while it runs
```

Each engine has its :class:`~codex_actors.actors._engine_slot.EngineSlot`: its router, its connection, what waits
for it. Everything below is per engine: a thread lives on one engine of the pool (its directory entry says which),
and only that engine's death touches it. The restart intensity is ``max_restarts`` per engine (the supervisor's
is that times the engines).

Thread actors are children only while they run: one that hibernates (idle) exits normally and is forgotten, so
the tree, like the :class:`~codex_actors.actors._directory.ThreadDirectory` through which addresses reach them,
is bounded by the threads in use. :class:`StartThread` starts (or revives) one.

The :class:`~codex_actors.actors._router.Router` outlives engine restarts: thread actors stay bound to it. When an
engine goes down, its generation in the directory goes up (every thread known loaded there is now not) and every
running thread actor placed on it is told :class:`EngineDown` (in-flight turns fail at once); once a new engine
is up, :class:`EngineUp`: each resumes its thread on it when next used, or at once if requests wait for it.
Past the restart intensity the supervisor stops everything and every ask raises
:class:`~codex_actors.errors.EngineCrashed`, which it also records in the runtime's :class:`Escalation` (so
callers see it without asking).

A restart never blocks the supervisor's mailbox for the engine's handshake: the engine child's spec is
``acknowledged``; its start spawns the process and sends ``initialize``, and the answer comes back here as a
message (bounded by ``RuntimeOptions.handshake_timeout``, on the runtime's timer thread). Answered, the child is
acknowledged (and the threads told :class:`EngineUp`); failed or timed out, the port is told to
:class:`~codex_actors.actors._messages.Abandon` its engine with that error, which the supervisor counts as a
failed restart attempt. So ``close()``, asks and other children's reports are handled while a handshake hangs.

Requests that find no engine (:class:`HoldRequest`: the runtime's plain requests during a restart, or ones that
reached a port whose engine had just died, :class:`~codex_actors._failures.NotSent`) are held in their engine's
slot (bounded: 1,024) and sent once a new engine is up; :class:`GetConnection` waits likewise. After escalation
they fail at once with the ``EngineCrashed``, and at stop with ``TransportClosedError``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import operator
import threading
from collections.abc import Sequence
from typing import Any, cast

import msgspec
import pykka

from .._config import CodexConfig
from .._failures import fresh, not_running
from .._logs import log_timeout
from .._metrics import metrics_for
from .._protocol.jsonrpc import ServerNotification, ServerRequest
from ..errors import EngineCrashed, EngineHungError, RequestTimeoutError, TransportClosedError
from ..models import initialize_response
from ._approvals import ApprovalBroker, file_change_seen
from ._connection import EngineConnection, PendingHandshake
from ._directory import ThreadDirectory
from ._engine_slot import EngineSlot, engine_child_name, redirected
from ._login_waiters import LoginWaiters
from ._messages import (
    Abandon,
    CancelRequest,
    EngineDown,
    EngineUp,
    GetConnection,
    HandleServerRequest,
    HoldRequest,
    MoveThread,
    PortEvent,
    StartEngine,
    StartThread,
    StopThread,
    ThreadMoved,
    UnownedNotifications,
    WaitLogin,
)
from ._options import RuntimeOptions
from ._port import EnginePort
from ._process import EngineProcess
from ._reply import ActorReply, ReplyTo, RequestDone, reply_error, reply_value, tell_quietly
from ._router import NotificationBuffer, Router
from ._services import ServiceSetup
from ._supervisor import ChildContext, ChildSpec, RestartPolicy, Supervisor, SupervisorGaveUp, TerminateChild
from ._telemetry import TelemetryActor, telemetry_event
from ._thread import ThreadActor, thread_child_name
from ._timers import Timers
from ._tools import ToolRegistry

__all__ = ["Escalation", "RootSupervisor", "redirected"]

LOGIN_COMPLETED = "account/login/completed"
_METHOD = operator.attrgetter("method")
#: The notifications after which the engine no longer has a thread loaded.
UNLOADING = frozenset({"thread/archived", "thread/closed"})
logger = logging.getLogger("codex_actors.telemetry")

#: Telemetry events kept for the telemetry actor before it first starts.
EARLY_EVENTS = 64
#: Messages the telemetry actor may have waiting (a slow handler); past this, new ones are dropped and counted.
TELEMETRY_BACKLOG = 10_000


def _backlog(ref: pykka.ActorRef[Any]) -> int:
    """How many messages wait in ``ref``'s inbox (a ``queue.Queue`` for threading actors)."""
    qsize = getattr(ref.actor_inbox, "qsize", None)
    return 0 if qsize is None else int(qsize())


class _Handshake(msgspec.Struct, frozen=True):
    """The tag of a restarted engine's ``initialize`` answer, told back to the root."""

    generation: int
    engine: int = 0


class _HandshakeTimeout(msgspec.Struct, frozen=True):
    """Tell (timer to root): the restarted engine of ``generation`` had ``handshake_timeout`` to answer."""

    generation: int
    engine: int = 0


class Escalation:
    """Whether a runtime's supervisor gave up: set once, on the supervisor's thread; read from any thread."""

    __slots__ = ("error",)

    def __init__(self) -> None:
        self.error: EngineCrashed | None = None


class RootSupervisor(Supervisor):
    """Supervises the engine ports (one per engine of the pool), the service actors and one actor per thread."""

    use_daemon_thread = True

    def __init__(
        self,
        config: CodexConfig,
        *,
        options: RuntimeOptions | None = None,
        unowned_buffer_size: int = 1024,
        engine: EngineProcess | None = None,
        escalation: Escalation | None = None,
        directory: ThreadDirectory | None = None,
    ) -> None:
        self.config = config
        self.options = options or RuntimeOptions()
        count = self.options.engines
        self.escalated = escalation or Escalation()
        #: Every thread something refers to: its running actor (if any), its engine and where it is loaded.
        self.directory = ThreadDirectory(self.escalated, count) if directory is None else directory
        #: Idle checks and resume backoffs of every thread actor, on one thread.
        self.timers = Timers()
        #: The latest notifications that belong to no live thread actor (bounded; the oldest are dropped).
        self.unowned = NotificationBuffer(unowned_buffer_size)
        #: The engines of the pool, by index.
        self.engines = [
            EngineSlot(
                index,
                engine_child_name(index, count),
                Router(
                    default=self._on_unowned,
                    requests=functools.partial(self._on_server_request, index),
                    events=self._on_event,
                    watch=self._watch,
                    engine=index,
                ),
                engine if index == 0 else None,  # started by the caller (EngineProcess.launch): the first port's
            )
            for index in range(count)
        ]
        self._slots = {slot.name: slot for slot in self.engines}
        #: The first engine's router (the only one, without a pool).
        self.router = self.engines[0].router
        self.logins = LoginWaiters()
        self._services: dict[str, pykka.ActorRef[Any]] = {}
        #: Telemetry messages dropped because the telemetry actor was :data:`TELEMETRY_BACKLOG` behind.
        self.telemetry_dropped = 0
        #: Telemetry events from before the telemetry actor first started (``None`` once it has).
        self._early: list[Any] | None = []
        self._early_lock = threading.Lock()
        #: The Prometheus metrics this client reports to (``None``: ``CodexConfig.metrics`` is off).
        self.metrics = metrics_for(config.metrics_registry) if config.metrics else None
        if self.metrics is not None:
            self.metrics.watch(self.directory)
        self._setup = ServiceSetup(config, self.directory, self.timers, self._tell_telemetry)
        self._service_specs = [
            ChildSpec("telemetry", self._service(TelemetryActor, "telemetry", self.metrics)),
            ChildSpec("tools", self._service(ToolRegistry, "tools", self._setup)),
            ChildSpec("approvals", self._service(ApprovalBroker, "approvals", self._setup)),
        ]
        super().__init__(
            [],
            max_restarts=self.options.max_restarts * count,
            max_seconds=self.options.restart_window,
            name="root",
        )

    # -- children ---------------------------------------------------------------------------------------------

    def _service(self, actor: type[pykka.ThreadingActor], name: str, *args: Any) -> Any:
        def start(context: ChildContext) -> pykka.ActorRef[Any]:
            ref = actor.start(context, *args)
            if name == "telemetry":
                with self._early_lock:
                    early, self._early = self._early or [], None
                    for event in early:  # what came before it first started, in order, before anything newer
                        ref.tell(event)
                    self._services[name] = ref
            else:
                self._services[name] = ref
            return ref

        return start

    def _start_engine(self, slot: EngineSlot, context: ChildContext) -> pykka.ActorRef[Any]:
        process, slot.spawned = slot.spawned, None
        ref = EnginePort.start(self.config, slot.router, self.options, context=context, process=process)
        if not slot.started:  # a first start: StartEngine waits for its handshake
            slot.handshake = (context.generation, EngineConnection.handshake(ref, slot.router, self.options))
            return ref
        # A restart: its handshake is watched from the mailbox (see the module docstring).
        generation = context.generation
        slot.restart_attempts += 1
        self._tell_telemetry(
            telemetry_event(
                "engine.restart",
                {"generation": generation, "reason": slot.restart_reason, "engine": slot.name},
                attempt=slot.restart_attempts,
            )
        )
        slot.restart_reason = "handshake_failed"  # unless it comes up, the next attempt is for that
        reply = ActorReply(self.actor_ref, _Handshake(generation, slot.index))
        slot.handshake = (generation, EngineConnection.handshake(ref, slot.router, self.options, reply))
        timeout = functools.partial(tell_quietly, self.actor_ref, _HandshakeTimeout(generation, slot.index))
        self.timers.call_later(self.options.handshake_timeout, timeout)
        return ref

    def _start_engines(self) -> list[EngineConnection]:
        """The first start of every engine: the first one, then (once it answered) the others at once.

        The first engine creates the state database of ``CODEX_HOME`` if there is none: engines that start on a
        new ``CODEX_HOME`` at the same moment fail to (checked on 0.163.0), ones that start beside it do not.
        """
        first, *others = self.engines
        self._start_slot(first)
        # The engine takes tens of milliseconds to answer the handshake: the services start meanwhile.
        for spec in self._service_specs:
            if spec.name not in self._services:
                self._start_new(spec)
        self._wait_started(first)
        for slot in others:
            self._start_slot(slot)
        for slot in others:
            self._wait_started(slot)
        return self._require_engines()

    def _start_slot(self, slot: EngineSlot) -> None:
        if slot.name not in self._children:
            self._start_new(ChildSpec(slot.name, functools.partial(self._start_engine, slot), acknowledged=True))

    def _wait_started(self, slot: EngineSlot) -> None:
        if slot.handshake is not None:
            pending, slot.handshake = slot.handshake[1], None
            slot.connection = pending.wait()
            slot.started = True
            self._engine_up(slot.connection)

    def _engine_up(self, connection: EngineConnection) -> None:
        """An engine answered its handshake: the build info names its version."""
        if self.metrics is not None:
            try:
                info = initialize_response(connection.initialize_result).serverInfo
                version = (info.version if info is not None else None) or ""
            except RuntimeError:
                version = ""
            words = version.split()
            self.metrics.engine_version(words[0] if words else "unknown")  # "0.163.0 (...)": the number

    def _handshaken(
        self, slot: EngineSlot, generation: int, raw: msgspec.Raw | None, error: BaseException | None
    ) -> None:
        """The restarted engine of ``generation`` answered ``initialize`` (or failed to)."""
        current = slot.handshake
        if current is None or current[0] != generation:
            return  # an attempt given up on already
        pending = current[1]
        if error is None:
            try:
                connection = pending.complete(raw or msgspec.Raw(b"{}"))
            except Exception as exc:
                error = exc
        if error is not None:
            self._abandon(slot, pending, error)
            return
        self._engine_up(connection)
        slot.connection = connection  # before on_child_restarted: the threads switch to it
        self.acknowledge(slot.name, generation)
        slot.up(self.actor_ref, connection)

    def _handshake_timed_out(self, slot: EngineSlot, generation: int) -> None:
        current = slot.handshake
        if current is not None and current[0] == generation:
            timeout = self.options.handshake_timeout
            log_timeout("initialize", timeout)
            self._abandon(slot, current[1], RequestTimeoutError("initialize", timeout))

    def _abandon(self, slot: EngineSlot, pending: PendingHandshake, error: BaseException) -> None:
        """A restarted engine failed its handshake: its port crashes with ``error`` (a failed restart attempt)."""
        slot.handshake = None
        tell_quietly(pending.connection.ref, Abandon(error))

    def _slot(self, engine: int) -> EngineSlot:
        """Engine ``engine`` of the pool (the first one for an index out of range)."""
        return self.engines[engine] if 0 <= engine < len(self.engines) else self.engines[0]

    def _hold(self, request: HoldRequest) -> None:
        """Send ``request`` on its engine if it is up, else keep it for the next one."""
        if self.escalation is not None:
            reply_error(request.reply, fresh(self.escalation))
            return
        self._slot(request.engine).hold(self.actor_ref, request)

    def _get_connection(self, reply: ReplyTo, engine: int) -> None:
        slot = self._slot(engine)
        if self.escalation is not None:
            reply_error(reply, fresh(self.escalation))
        elif slot.connection is not None:
            reply_value(reply, slot.connection)
        elif not slot.started:
            reply_error(reply, not_running())
        else:
            slot.waiting.append(reply)

    def _cancel(self, reply: ReplyTo) -> None:
        for slot in self.engines:
            slot.cancel(reply)

    def _fail_waiting(self, error: BaseException) -> None:
        for slot in self.engines:
            for reply in slot.fail_waiting():
                reply_error(reply, fresh(error))

    def _start_thread(self, thread_id: str) -> pykka.ActorRef[Any]:
        """The running actor of ``thread_id``, started (or revived) if none runs, on its thread's engine."""
        if self.escalation is not None:
            raise self.escalation
        entry = self.directory.entry(thread_id)
        with entry.lock:
            current = entry.ref
        if current is not None and current.is_alive():
            return current
        name = thread_child_name(thread_id)
        if self._children.pop(name, None) is not None:
            # An incarnation on its way out (it hibernated, or crashed and is not reported yet): its report will
            # be stale, as the new one's generation is above it.
            self._forget_generation(name)
        connection = self._slot(self.directory.place(entry)).connection

        def start(context: ChildContext) -> pykka.ActorRef[Any]:
            ref = ThreadActor.start(
                context,
                thread_id,
                connection,
                global_sink=self._on_unowned,
                directory=self.directory,
                entry=entry,
                timers=self.timers,
                options=self.options,
                telemetry=self._tell_telemetry,
            )
            with entry.lock:
                entry.ref = ref
            return ref

        return self._start_new(ChildSpec(name, start, RestartPolicy.transient))

    def _move_thread(self, message: MoveThread) -> None:
        """A thread's actor found its thread held by another engine of the pool: place it on one not tried."""
        entry = self.directory.find(message.thread_id)
        if entry is None:
            return
        engine = self.directory.reserve(exclude=message.tried)
        self.directory.unreserve(engine)
        self.directory.settle(entry, engine)
        ref = entry.ref
        if ref is not None:
            tell_quietly(ref, ThreadMoved(engine, self._slot(engine).connection))

    def _thread_refs(self, engine: int) -> list[pykka.ActorRef[Any]]:
        """The running thread actors placed on ``engine``."""
        refs = []
        for name, child in self._children.items():
            if name.startswith("thread:") and child.ref is not None:
                entry = self.directory.find(name[len("thread:") :])
                if entry is not None and (entry.engine or 0) == engine:
                    refs.append(child.ref)
        return refs

    def _require_engines(self) -> list[EngineConnection]:
        """The connections of the first engine starts (what ``StartEngine`` answers)."""
        if self.escalation is not None:
            raise self.escalation
        connections = [slot.connection for slot in self.engines]
        if any(connection is None for connection in connections):
            raise not_running()
        return cast(list[EngineConnection], connections)

    # -- supervisor hooks -------------------------------------------------------------------------------------

    def on_child_down(self, name: str, reason: BaseException | None) -> None:
        """An engine died: fail the in-flight turns of the threads on it now, before the restart."""
        slot = self._slots.get(name)
        if slot is None:
            return
        slot.connection = None
        self.directory.engine_restarted(slot.index)
        slot.restart_reason = "hung" if isinstance(reason, EngineHungError) else "crashed"
        error = reason if reason is not None else not_running()
        for ref in self._thread_refs(slot.index):
            with contextlib.suppress(pykka.ActorDeadError):
                ref.tell(EngineDown(error))

    def on_child_restarted(self, name: str, ref: pykka.ActorRef[Any]) -> None:
        """A fresh engine is up: the thread actors on it switch to it (and resume their threads when used)."""
        slot = self._slots.get(name)
        if slot is None or slot.connection is None:
            return
        for thread_ref in self._thread_refs(slot.index):
            with contextlib.suppress(pykka.ActorDeadError):
                thread_ref.tell(EngineUp(slot.connection))

    def escalation_error(self, gave_up: SupervisorGaveUp) -> EngineCrashed:
        """Giving up is the runtime's :class:`EngineCrashed` (with the engine's exit code and stderr tail)."""
        closed = gave_up.reason if isinstance(gave_up.reason, TransportClosedError) else None
        error = EngineCrashed(
            str(gave_up),
            exit_code=None if closed is None else closed.exit_code,
            stderr_tail=None if closed is None else closed.stderr_tail,
        )
        error.__cause__ = gave_up.reason
        self.escalated.error = error
        return error

    def on_escalate(self, error: BaseException) -> None:
        """Gave up: nothing runs any more; asks raise ``error``; login waiters get it too."""
        for slot in self.engines:
            slot.connection = None
            slot.handshake = None
        self.timers.close()
        self.logins.fail_all(error)
        self._fail_waiting(error)

    def on_stop(self) -> None:
        """Stop every child; login waiters fail with ``TransportClosedError``."""
        for slot in self.engines:
            if slot.spawned is not None:  # an engine started for a port that never came
                slot.spawned.stop(grace=0.0, term_grace=self.options.term_grace)
                slot.spawned = None
        super().on_stop()
        self.timers.close()
        self.logins.fail_all(not_running())
        self._fail_waiting(not_running())

    def on_other_message(self, message: Any) -> Any:
        """Answer the runtime's own asks."""
        match message:
            case StartEngine():
                return self._start_engines()
            case GetConnection(reply=reply, engine=engine):
                self._get_connection(reply, engine)
                return None
            case HoldRequest():
                self._hold(message)
                return None
            case CancelRequest(reply=reply):
                self._cancel(reply)
                return None
            case RequestDone(tag=_Handshake(generation=generation, engine=engine)):
                self._handshaken(self._slot(engine), generation, message.result, message.error)
                return None
            case _HandshakeTimeout(generation=generation, engine=engine):
                self._handshake_timed_out(self._slot(engine), generation)
                return None
            case StartThread():
                return self._start_thread(message.thread_id)
            case MoveThread():
                self._move_thread(message)
                return None
            case StopThread():
                return self.on_receive(TerminateChild(thread_child_name(message.thread_id)))
            case WaitLogin():
                self.logins.wait(message.login_id, message.reply)
                return None
        return super().on_other_message(message)

    # -- sinks (these run on the port's reader thread) --------------------------------------------------------

    def _on_unowned(self, batch: Sequence[ServerNotification]) -> None:
        for note in batch:
            if note.method == LOGIN_COMPLETED:
                login_id = getattr(note.payload, "login_id", None)
                if login_id is not None:
                    self.logins.deliver(login_id, note.payload)
            elif note.method in UNLOADING:
                thread_id = getattr(note.payload, "thread_id", None)
                if isinstance(thread_id, str):
                    self.directory.mark_unloaded(thread_id)
        self.unowned(batch)
        self._tell_telemetry(UnownedNotifications(batch))

    def _watch(self, batch: Sequence[ServerNotification]) -> None:
        """Every batch the reader delivers, on its thread: counted by method, and file changes noted.

        One C-level pass finds the batch's methods; a batch of one method (a run of deltas, the common case)
        is counted with one addition, so the metrics add no Python work per notification.
        """
        methods = set(map(_METHOD, batch))
        metrics = self.metrics
        if metrics is not None:
            if len(methods) == 1:
                metrics.notifications[next(iter(methods))] += len(batch)
            else:
                metrics.notifications.update(map(_METHOD, batch))
        if "item/started" in methods:
            self._watch_file_changes(batch)

    def _watch_file_changes(self, batch: Sequence[ServerNotification]) -> None:
        """Tell the approval broker each ``fileChange`` item's paths (its approval request names only the item)."""
        approvals = self._services.get("approvals")
        if approvals is None:
            return
        for note in batch:
            seen = file_change_seen(note)
            if seen is not None:
                with contextlib.suppress(pykka.ActorDeadError):
                    approvals.tell(seen)

    def _on_server_request(self, engine: int, request: ServerRequest) -> None:
        connection = self.engines[engine].connection
        service = self._services.get("tools" if request.method == "item/tool/call" else "approvals")
        if connection is None or service is None:
            return
        try:
            service.tell(HandleServerRequest(request, connection))
        except pykka.ActorDeadError:
            with contextlib.suppress(TransportClosedError):
                connection.reply_error(request.id, -32603, "codex-actors: the handler is restarting")

    def _on_event(self, event: PortEvent) -> None:
        self._tell_telemetry(event)

    def _tell_telemetry(self, event: Any) -> None:
        """Tell the telemetry actor ``event`` (from any thread).

        Before it first started (the engine starts first), up to :data:`EARLY_EVENTS` events wait for it; while
        it restarts, events are dropped.
        """
        telemetry = self._services.get("telemetry")
        if telemetry is None:
            with self._early_lock:
                telemetry = self._services.get("telemetry")
                if telemetry is None:
                    if self._early is not None and len(self._early) < EARLY_EVENTS:
                        self._early.append(event)
                    return
        if _backlog(telemetry) >= TELEMETRY_BACKLOG:
            self._drop_telemetry()
            return
        with contextlib.suppress(pykka.ActorDeadError):
            telemetry.tell(event)

    def _drop_telemetry(self) -> None:
        """The telemetry actor is this far behind (a slow handler): the event is dropped, and counted."""
        self.telemetry_dropped += 1
        if self.telemetry_dropped == 1:
            logger.warning(
                "root: the telemetry actor has %d messages waiting (a slow telemetry handler?): "
                "dropping events until it catches up (counted in RootSupervisor.telemetry_dropped)",
                TELEMETRY_BACKLOG,
            )
