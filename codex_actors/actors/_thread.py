"""The thread actor: one per live Codex thread. It owns the thread's turns and survives engine restarts.

The port's reader thread decodes this thread's notifications and hands them over in batches: they queue in the
actor's intake, and one :class:`DrainNotifications` is told while none is pending. The actor appends each
turn's events to its :class:`~codex_actors.actors._turnlog.TurnLog` (which every subscriber reads at its own
cursor) and feeds the turn's :class:`~codex_actors._results.TurnAccumulator`; at ``turn/completed`` the log
ends carrying the turn's :class:`~codex_actors._results.TurnResult`, assembled here once for every reader and
every :class:`RunTurn` sender. Notifications of the thread that belong to no turn go to the global sink.
Those of a turn nobody claimed (no turn/start reply, no subscription named it) are kept only while a turn/start,
whose reply may come after the turn's first events, is in flight, for at most ``UNCLAIMED_TURNS_KEPT`` turns. A
:class:`~codex_actors.actors._messages.LineTooLongNote` in the intake (a line of this thread was over the limit and
dropped) fails its turn (with no turn id, every running one) with its ``LineTooLongError``, in its place: what was
read after it, a ``turn/completed`` included, cannot end that turn any more.

It never blocks, and it talks to its engine only through an
:class:`~codex_actors.actors._messages.EngineHandle`: requests go out with their replies delivered back as
:class:`RequestDone` messages. When the engine dies (:class:`EngineDown`) every in-flight turn fails with a
``TransportClosedError``; requests that arrive meanwhile are held; when a new engine is up (:class:`EngineUp`)
the thread is resumed on it and the held requests go out, so the same thread keeps working. A request that
reaches the port after its engine died but before the supervisor says so comes back unsent
(:class:`~codex_actors._failures.NotSent`): the actor takes the engine for down and holds it likewise.

Resuming is lazy: a thread is resumed (``thread/resume``) only when it is next used, so a restart costs the
threads in use one request each and the others nothing. An overloaded engine's answer (``-32001``) is retried
with backoff; a resume that still fails fails the requests that waited for it, and the next use tries again.

An actor costs an OS thread, so an idle one (no turn running, nothing held or in flight) hibernates after the
runtime's idle time: it gives up its address in the thread's
:class:`~codex_actors.actors._directory.ThreadEntry` and stops; the next message to the address starts a new
incarnation, which knows from the entry whether the engine still has the thread loaded. A thread that was
archived, or whose last ``Thread`` object is gone (:class:`ReleaseThread`), hibernates as soon as it is idle.
A message it does not handle is answered with :class:`~codex_actors.errors.UnknownMessageError`, never a crash.

Turn timeout (``RuntimeOptions.turn_timeout``, from ``CodexConfig.turn_timeout_s``; off by default): when the
engine accepts a turn started here, a :class:`TurnDeadline` is armed on the runtime's timers. A turn still running
then is interrupted (``turn/interrupt``, best effort) and ends at once with
:class:`~codex_actors.errors.TurnTimeoutError` for every reader and :class:`RunTurn` sender. Until the engine
says the turn is over (its ``turn/completed``, or a refused interrupt, or :data:`STOP_GRACE_S`) the thread's next
``turn/start`` is held: sent earlier, the engine would join it to the turn being stopped.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import itertools
import logging
import operator
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pykka

from .._failures import NotSent, fresh, not_running
from .._protocol.generated import (
    AgentMessageThreadItem,
    McpToolCallStatus,
    McpToolCallThreadItem,
    ReasoningThreadItem,
    TurnStartResponse,
)
from .._protocol.jsonrpc import ServerNotification, decode_payload, wire_params
from .._protocol.notifications import TYPED_NOTIFICATIONS
from .._results import RESULT_METHODS, TurnAccumulator, TurnResult
from .._structured import run_result
from .._turn_params import TURN_OPTIONS, turn_params
from ..errors import (
    InvalidRequestError,
    ProtocolError,
    TransportClosedError,
    TurnTimeoutError,
    UnknownMessageError,
    UnknownThreadError,
    is_retryable_error,
)
from ..models import Notification
from ._coalesce import DELTAS
from ._directory import ACTIVE_WRITER, ThreadDirectory, ThreadEntry
from ._messages import (
    CancelRequest,
    DrainNotifications,
    EngineDown,
    EngineHandle,
    EngineUp,
    IdleCheck,
    LineTooLongNote,
    MoveThread,
    NotificationSink,
    ReleaseThread,
    RetryResume,
    RunTurn,
    StartTurn,
    SubscribeTurn,
    ThreadMoved,
    ThreadRequest,
    TurnDeadline,
    TurnFinished,
    TurnStarted,
)
from ._options import RuntimeOptions
from ._reply import ActorReply, Redirect, RequestDone, reply_error, reply_value, tell_quietly
from ._supervisor import ChildContext, SupervisedActor
from ._telemetry import telemetry_event, tool_metadata
from ._timers import Timers
from ._turnlog import TurnLog

__all__ = ["ThreadActor", "thread_child_name"]

logger = logging.getLogger("codex_actors.thread")

#: Completed turns whose logs stay reachable for late subscribers.
COMPLETED_TURNS_KEPT = 8
#: Turns nobody claimed yet (their events came before the turn/start reply naming them) kept meanwhile, at most.
UNCLAIMED_TURNS_KEPT = 16
#: Requests held while the engine restarts; past this they fail at once.
MAX_HELD_REQUESTS = 1024
#: Seconds a timed-out turn's next ``turn/start`` waits for the engine to end it (it takes milliseconds).
STOP_GRACE_S = 5.0
#: The notifications after which the engine no longer has the thread loaded.
_UNLOADING = frozenset({"thread/archived", "thread/closed"})

_DRAIN = DrainNotifications()
_IDLE_CHECK = IdleCheck()
_RETRY_RESUME = RetryResume()
_PAYLOAD_TURN_ID = operator.attrgetter("payload.turn_id")
#: The typed notification classes that never change a turn's result (a batch of only these skips the loop).
_RESULT_NEUTRAL_TYPES = frozenset(
    cls for method, cls in TYPED_NOTIFICATIONS.items() if method not in RESULT_METHODS
)
#: The model's first output of a turn (its time to first token): a message or reasoning delta.
_FIRST_OUTPUT_METHODS = frozenset(
    {"item/agentMessage/delta", "item/reasoning/textDelta", "item/reasoning/summaryTextDelta"}
)
_FIRST_OUTPUT_TYPES = frozenset(TYPED_NOTIFICATIONS[method] for method in _FIRST_OUTPUT_METHODS)
_TOKEN_USAGE = "thread/tokenUsage/updated"
#: The items that are the model's output, when it comes whole (no deltas).
_OUTPUT_ITEMS = frozenset({AgentMessageThreadItem, ReasoningThreadItem})


def thread_child_name(thread_id: str) -> str:
    """The supervisor child name of a thread's actor."""
    return f"thread:{thread_id}"


def _bounce(ref: pykka.ActorRef[Any], message: ThreadRequest, error: BaseException) -> None:
    """``message`` never reached the engine (it had died): the actor holds it for the next engine."""
    try:
        ref.tell(EngineDown(error))
        ref.tell(message)
    except pykka.ActorDeadError:
        reply_error(message.reply, error)


def _unknown_thread(thread_id: str, error: BaseException) -> BaseException:
    """``error``, as :class:`UnknownThreadError` when it is the engine saying it has no such thread."""
    if not isinstance(error, InvalidRequestError) or isinstance(error, UnknownThreadError):
        return error
    if "no rollout found" not in error.message and "thread not found" not in error.message:
        return error
    unknown = UnknownThreadError(error.code, error.message, error.data, thread_id=thread_id)
    unknown.__cause__ = error
    return unknown


@dataclass(eq=False)
class _Turn:
    turn_id: str
    log: TurnLog[Notification]
    accumulator: TurnAccumulator
    result: TurnResult | None = None
    error: BaseException | None = None
    listeners: list[RunTurn] = field(default_factory=list)
    deadline_armed: bool = False
    # Telemetry: when it began (monotonic), its first output, its tokens; reported once a start here claimed it.
    started: float = field(default_factory=time.monotonic)
    first_output: float | None = None
    tokens: dict[str, int] = field(default_factory=dict)
    reported: bool = False
    model: str | None = None
    trace: dict[str, str] | None = None

    @property
    def ended(self) -> bool:
        return self.result is not None or self.error is not None


class ThreadActor(SupervisedActor):
    """The actor of one Codex thread. Start it with the thread id and the engine connection.

    Given the runtime's ``directory``, ``entry``, ``timers`` and ``options`` it hibernates when idle and resumes
    the thread lazily; without them (a bare actor, as in unit tests) it never hibernates and assumes the
    engine has the thread loaded. ``connection`` is ``None`` when it starts while the engine restarts.
    """

    use_daemon_thread = True

    def __init__(
        self,
        context: ChildContext | None,
        thread_id: str,
        connection: EngineHandle | None,
        *,
        global_sink: NotificationSink | None = None,
        directory: ThreadDirectory | None = None,
        entry: ThreadEntry | None = None,
        timers: Timers | None = None,
        options: RuntimeOptions | None = None,
        telemetry: Callable[[Any], None] | None = None,
    ) -> None:
        super().__init__(context)
        self.thread_id = thread_id
        self._telemetry = telemetry
        self._born = time.monotonic()
        self._connection = connection
        self._global_sink = global_sink
        self._directory = directory
        self._entry = entry if entry is not None else ThreadEntry(thread_id)
        self._timers = timers
        self._options = options or RuntimeOptions()
        self._idle_timeout = self._options.thread_idle_timeout if timers is not None else None
        self._turn_timeout = self._options.turn_timeout if timers is not None else None
        # Turns timed out whose end the engine has not confirmed yet (a new turn/start waits), and the tags of
        # their turn/interrupt requests. Both bounded by the turns running at once.
        self._stopping: set[str] = set()
        self._interrupts: dict[int, str] = {}
        self._turns: dict[str, _Turn] = {}
        # The ids of the turns in _turns that nobody claimed, oldest first (bounded by UNCLAIMED_TURNS_KEPT).
        self._unclaimed: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._completed: collections.deque[str] = collections.deque()
        self._tags = itertools.count()
        self._starts: dict[int, StartTurn | RunTurn] = {}
        self._down: BaseException | None = None if connection is not None else not_running()
        # Resume first only where the engine is known not to have the thread: it was loaded on an engine that
        # has died since. A thread whose state is unknown (an id alone, a thread started by a raw request) is
        # used as it is, and resumed only if the engine then says it does not have it.
        loaded = self._entry.loaded
        self._needs_resume = loaded is not None and loaded != self._generation
        # Ids of the turn starts here (held or in flight) that a resume already preceded: a "thread not found" to
        # one of them fails it; to any other, the thread is resumed and the turn started again. Bounded by them.
        self._retried: set[int] = set()
        self._resuming: int | None = None
        #: The engines of the pool whose resume said another engine holds the thread (see ``_move``).
        self._tried_engines: set[int] = set()
        self._resume_generation = 0
        self._resume_attempt = 0
        self._resume_backoff = False
        self._resume_reason = "not_loaded"
        self._held: list[StartTurn | RunTurn | ThreadRequest] = []
        self._intake: collections.deque[Sequence[ServerNotification]] = collections.deque()
        self._drain_pending = False
        self._last_activity = time.monotonic()
        self._idle_armed = False
        self._release_when_idle = False
        self._hibernating = False

    @property
    def _generation(self) -> int:
        """The current generation of the thread's engine (0 for a bare actor, which has no directory)."""
        return 0 if self._directory is None else self._directory.generation_of(self._entry)

    # -- lifecycle --------------------------------------------------------------------------------------------

    def on_start(self) -> None:
        """Claim this thread's notifications."""
        if self._connection is not None:
            self._connection.bind_thread(self.thread_id, self._deliver)
        logger.debug(
            "thread %s: actor started (resume first: %s)",
            self.thread_id,
            self._needs_resume,
            extra={"thread_id": self.thread_id},
        )
        self._emit("thread.start", {"thread_id": self.thread_id, "resumed": self._needs_resume})
        self._after_message()

    def on_stop(self) -> None:
        """Release the thread's notifications and fail whatever still waits."""
        self._release(TransportClosedError(f"the actor of thread {self.thread_id} stopped"))
        for turn_id, turn in self._turns.items():  # a late subscriber of one, after a revival, gets an ended log
            if turn.ended:
                self._entry.forget_turn(turn_id)
        reason = "hibernated" if self._hibernating else "stopped"
        self._emit(
            "thread.stop",
            {"thread_id": self.thread_id, "reason": reason},
            duration_s=time.monotonic() - self._born,
        )
        super().on_stop()

    def on_failure(self, *exc_info: Any) -> None:
        """Same release as a stop, then report the crash."""
        self._release(TransportClosedError(f"the actor of thread {self.thread_id} crashed"))
        error = exc_info[0].__name__ if exc_info and exc_info[0] is not None else None
        self._emit(
            "thread.exception",
            {"thread_id": self.thread_id, "error": error},
            duration_s=time.monotonic() - self._born,
        )
        super().on_failure(*exc_info)

    def _emit(self, name: str, metadata: dict[str, Any], **measurements: float) -> None:
        """Tell telemetry the event ``name`` (see ``codex_actors._telemetry_events``), if it listens."""
        if self._telemetry is not None:
            self._telemetry(telemetry_event(name, metadata, **measurements))

    def _deliver(self, batch: Sequence[ServerNotification]) -> None:
        # Runs on the reader thread. Batches queue up in the intake; a drain is told only if none is pending,
        # so while this actor is busy, any number of reads cost no message at all.
        self._intake.append(batch)
        if not self._drain_pending:
            self._drain_pending = True
            with contextlib.suppress(pykka.ActorDeadError):
                self.actor_ref.tell(_DRAIN)

    def _drain(self) -> None:
        self._drain_pending = False  # before taking: a batch added from now on schedules another drain
        intake = self._intake
        items: list[ServerNotification] = []
        while intake:
            items.extend(intake.popleft())
        if items:
            self._on_notifications(items)

    def _give_up_address(self, *, unless_inbox_busy: bool = False) -> bool:
        """Stop being the thread's actor: senders start another incarnation; notifications go elsewhere.

        With ``unless_inbox_busy``, only if no message waits in the inbox (checked under the entry's lock, which
        senders hold while they put a message in): False, and nothing changed, if one does.
        """
        entry = self._entry
        with entry.lock:
            if entry.ref is not None and entry.ref == self.actor_ref:
                if unless_inbox_busy and not self.actor_inbox.empty():
                    return False
                entry.ref = None
        if self._connection is not None:
            self._connection.unbind_thread(self.thread_id, self._deliver)
        return True

    def _release(self, error: BaseException) -> None:
        self._give_up_address()
        self._fail_active_turns(error)
        for held in self._held:
            self._fail_request(held, error)
        self._held.clear()
        for start in self._starts.values():
            self._fail_request(start, error)
        self._starts.clear()
        self._drop_unclaimed()

    # -- messages ---------------------------------------------------------------------------------------------

    def on_receive(self, message: Any) -> Any:
        """Dispatch one typed message; an unknown one is answered with :class:`UnknownMessageError`."""
        match message:
            case DrainNotifications():
                self._drain()
            case RequestDone():
                self._on_request_done(message)
            case StartTurn() | RunTurn() | ThreadRequest():
                self._on_request(message)
            case SubscribeTurn():
                self._subscribe(message)
            case CancelRequest():
                self._cancel(message)
            case EngineDown():
                self._on_engine_down(message.error)
            case EngineUp():
                self._on_engine_up(message.connection)
            case ThreadMoved():
                self._on_moved(message)
            case IdleCheck():
                self._on_idle_check()
                return None
            case RetryResume():
                self._resume_backoff = False
                if self._held and self._down is None and self._resuming is None:
                    self._resume()
            case ReleaseThread():
                self._release_when_idle = True
            case TurnDeadline():
                self._on_deadline(message.turn_id)
            case _:
                return self._refuse(message)
        self._last_activity = time.monotonic()
        self._after_message()
        return None

    def _refuse(self, message: Any) -> UnknownMessageError:
        error = UnknownMessageError(f"the actor of thread {self.thread_id} does not handle {message!r}")
        logger.warning("%s", error, extra={"thread_id": self.thread_id})
        reply_to = getattr(message, "reply_to", None)
        if reply_to is not None and hasattr(reply_to, "tell"):
            with contextlib.suppress(Exception):
                reply_to.tell(error)
        return error

    # -- hibernation ------------------------------------------------------------------------------------------

    def _is_idle(self) -> bool:
        return (
            not self._starts
            and not self._held
            and self._resuming is None
            and not self._resume_backoff
            and not self._intake
            and not self._stopping
            and all(turn.ended for turn in self._turns.values())
        )

    def _after_message(self) -> None:
        """Arm the idle check when the actor has nothing left to do (or hibernate now, if it was released)."""
        if self._hibernating:
            return
        if self._release_when_idle:
            if self._is_idle():
                self._hibernate()
        elif not self._idle_armed and self._idle_timeout is not None and self._is_idle():
            self._arm_idle(self._idle_timeout)

    def _arm_idle(self, delay: float) -> None:
        self._idle_armed = True
        self._tell_later(delay, _IDLE_CHECK)

    def _tell_later(self, delay: float, message: Any) -> None:
        """Tell this actor ``message`` after ``delay`` seconds (from the runtime's timer thread)."""
        assert self._timers is not None  # only an actor of a runtime (with timers) has an idle time or retries
        self._timers.call_later(delay, functools.partial(tell_quietly, self.actor_ref, message))

    def _on_idle_check(self) -> None:
        self._idle_armed = False
        if self._hibernating or not self._is_idle() or self._idle_timeout is None:
            return  # busy again: the idle check is armed anew once it is idle
        remaining = self._last_activity + self._idle_timeout - time.monotonic()
        if remaining > 0 and not self._release_when_idle:
            self._arm_idle(remaining)
            return
        self._hibernate()

    def _hibernate(self) -> None:
        """Give up the address, then stop, unless a message came in meanwhile (the lock makes that exact)."""
        if not self._give_up_address(unless_inbox_busy=True):
            return  # handled first; the idle check is armed again after it
        self._hibernating = True
        logger.debug("thread %s: actor hibernates", self.thread_id, extra={"thread_id": self.thread_id})
        self.stop()

    def _on_notifications(self, items: Sequence[ServerNotification]) -> None:
        try:
            turns = set(map(_PAYLOAD_TURN_ID, items))
        except AttributeError:  # a payload without a turn id (turn/started, a thread event...): the loop below
            turns = set()
        if len(turns) == 1 and None not in turns and _RESULT_NEUTRAL_TYPES.issuperset(map(type, items)):
            # The common case (a stream of deltas): one turn, nothing that changes its result, no per-event work.
            turn_id = turns.pop()
            turn = self._turns.get(turn_id) or self._unknown_turn(turn_id)
            if turn is not None and not turn.ended:
                if turn.first_output is None and not _FIRST_OUTPUT_TYPES.isdisjoint(map(type, items)):
                    turn.first_output = time.monotonic()
                turn.log.extend(items)
            return
        touched: dict[str, tuple[_Turn, list[Notification]]] = {}
        finished: list[_Turn] = []
        failed: list[tuple[_Turn, BaseException]] = []
        completed: set[str] = set()
        unowned: list[ServerNotification] = []
        stopped: list[str] = []
        for note in items:
            if type(note) is LineTooLongNote:  # a line of this thread was dropped: its turn fails, here
                for turn in self._turns_of(note.turn_id):
                    if not turn.ended and turn.turn_id not in completed:
                        completed.add(turn.turn_id)
                        failed.append((turn, note.error or ProtocolError("a line of this thread was dropped")))
                continue
            turn_id = note.turn_id
            if turn_id is None:
                unowned.append(note)
                continue
            turn = self._turns.get(turn_id) or self._unknown_turn(turn_id)
            if turn is None:  # nobody can claim it: dropped (its end remembered, for a late subscriber)
                if note.method == "turn/completed":
                    self._entry.forget_turn(turn_id)
                continue
            if turn.ended or turn_id in completed:
                if turn_id in self._stopping and note.method == "turn/completed":
                    stopped.append(turn_id)  # a timed-out turn is over in the engine too
                continue  # a straggler after the turn's end: turn/completed is always the log's last event
            entry = touched.get(turn_id)
            if entry is None:
                entry = touched[turn_id] = (turn, [])
            entry[1].append(note)
            method = note.method
            if method in _FIRST_OUTPUT_METHODS:
                if turn.first_output is None:
                    turn.first_output = time.monotonic()
            elif method == _TOKEN_USAGE:
                self._on_token_usage(turn, note.payload)
            elif method == "item/completed":
                item_type = type(getattr(note.payload, "item", None))
                if item_type is McpToolCallThreadItem:
                    self._on_mcp_call(turn, note.payload.item)
                elif turn.first_output is None and item_type in _OUTPUT_ITEMS:  # an answer that was not streamed
                    turn.first_output = time.monotonic()
            if note.method in RESULT_METHODS and turn.accumulator.add(note.payload):
                finished.append(turn)
                completed.add(turn_id)
        for turn, events in touched.values():
            turn.log.extend(events)
        for turn in finished:
            self._finish(turn, result=turn.accumulator.result())
        for turn, error in failed:
            self._finish(turn, error=error)
        for turn_id in stopped:
            self._stopped(turn_id)
        if unowned:
            if any(note.method in _UNLOADING for note in unowned):
                # Archived or closed: not loaded any more. Requests still go out as they are (the engine answers
                # them as it answers the official SDK); a turn it has no thread for resumes it first.
                self._entry.loaded = None
                self._release_when_idle = True
            if self._global_sink is not None:
                self._global_sink(unowned)

    def _on_token_usage(self, turn: _Turn, payload: Any) -> None:
        """A model request's usage: added to the turn's tokens, and told to telemetry."""
        last = getattr(getattr(payload, "token_usage", None), "last", None)
        if last is None:
            return
        counts = {
            "input_tokens": last.input_tokens,
            "cached_input_tokens": last.cached_input_tokens,
            "output_tokens": last.output_tokens,
            "reasoning_output_tokens": last.reasoning_output_tokens,
        }
        for key, value in counts.items():
            turn.tokens[key] = turn.tokens.get(key, 0) + value
        metadata = {"thread_id": self.thread_id, "turn_id": turn.turn_id, "model": self._model(turn)}
        self._emit("token_usage.updated", metadata, **counts, total_tokens=last.total_tokens)

    def _on_mcp_call(self, turn: _Turn, item: McpToolCallThreadItem) -> None:
        """An MCP tool call ended: its start (dated back by its duration) and its end, told to telemetry."""
        if self._telemetry is None:
            return
        duration = (item.duration_ms or 0) / 1000
        metadata = tool_metadata(item.tool, "mcp", item.server, self.thread_id, turn.turn_id, item.id)
        self._emit("tool.start", dict(metadata), system_time=time.time() - duration)
        if item.status is McpToolCallStatus.completed:
            self._emit("tool.success", metadata, duration_s=duration)
        else:
            self._emit("tool.failure", {**metadata, "reason": "failed"}, duration_s=duration)

    def _model(self, turn: _Turn) -> str | None:
        return turn.model if turn.model is not None else self._entry.model

    def _turns_of(self, turn_id: str | None) -> list[_Turn]:
        """The turn ``turn_id`` (unknown: as :meth:`_unknown_turn` keeps it); with no id, every turn running."""
        if turn_id is None:
            return [turn for turn in self._turns.values() if not turn.ended]
        turn = self._turns.get(turn_id) or self._unknown_turn(turn_id)
        return [] if turn is None else [turn]

    def _on_request(self, message: StartTurn | RunTurn | ThreadRequest) -> None:
        connection = self._connection
        if self._down is None and self._resuming is None and (connection is None or not connection.alive):
            # The engine died and the supervisor has not said so yet: hold this for the new engine.
            self._down = not_running()
            self._needs_resume = True
        if self._down is not None or self._resuming is not None or self._resume_backoff or self._needs_resume:
            if not self._hold(message):
                return
            if self._down is None and self._resuming is None and not self._resume_backoff:
                self._resume()
            return
        assert connection is not None
        if isinstance(message, ThreadRequest):
            params = {"threadId": self.thread_id, **message.params}
            reply = Redirect(message.reply, functools.partial(_bounce, self.actor_ref, message))
            connection.send(message.method, params, reply)
            return
        if self._stopping:  # a timed-out turn is still being stopped: a turn/start now would join it
            self._hold(message)
            return
        if isinstance(message, RunTurn):
            try:
                options = {name: getattr(message, name) for name in TURN_OPTIONS}
                params = wire_params(turn_params(self.thread_id, message.input, **options))
            except Exception as exc:  # bad input or options: the sender gets the error run() would raise
                self._fail_request(message, exc)
                return
        else:
            params = {**message.params, "threadId": self.thread_id}
        # The turn/start reply comes back here, not to the caller, so that the caller's cursor can be placed at
        # the log's very start. The price: while any turn/start is in flight, every log of this thread is kept
        # whole (a turn's first events may arrive before the reply that names it).
        tag = next(self._tags)
        self._starts[tag] = message
        self._retain_all(True)
        trace = None if isinstance(message, ThreadRequest) else message.trace
        connection.send("turn/start", params, ActorReply(self.actor_ref, tag), trace)

    def _hold(self, message: StartTurn | RunTurn | ThreadRequest) -> bool:
        """Keep ``message`` for later (bounded: past :data:`MAX_HELD_REQUESTS` it fails at once, False)."""
        if len(self._held) >= MAX_HELD_REQUESTS:
            self._fail_request(message, TransportClosedError("too many requests held while the engine restarts"))
            return False
        self._held.append(message)
        return True

    def _on_request_done(self, done: RequestDone) -> None:
        if done.tag == self._resuming:
            self._on_resumed(done)
            return
        interrupted = self._interrupts.pop(done.tag, None)
        if interrupted is not None:
            if done.error is not None:  # refused (the turn is over already) or lost: nothing left to wait for
                logger.debug(
                    "thread %s: turn/interrupt of turn %s failed: %s",
                    self.thread_id,
                    interrupted,
                    done.error,
                    extra={"thread_id": self.thread_id, "turn_id": interrupted},
                )
                self._stopped(interrupted)
            return
        start = self._starts.pop(done.tag, None)
        if start is None:
            return
        try:
            self._claim(start, done)
        finally:
            # Only now, with the caller subscribed, may logs drop what every subscriber has read.
            if not self._starts:
                self._no_start_in_flight()

    def _claim(self, start: StartTurn | RunTurn, done: RequestDone) -> None:
        if isinstance(done.error, NotSent):  # the engine had died: held for the next one
            self._on_engine_down(done.error)
            self._on_request(start)
            return
        if done.error is not None or done.result is None:
            error = _unknown_thread(self.thread_id, done.error or TransportClosedError("turn/start got no result"))
            if isinstance(error, UnknownThreadError) and id(start) not in self._retried:
                # The engine does not have the thread loaded (an id from an earlier client, a restart we did not
                # see it through): resume it, then start the turn again, once.
                self._retried.add(id(start))
                self._needs_resume = True
                self._on_request(start)
                return
            self._fail_request(start, error)
            return
        self._retried.discard(id(start))
        turn_id = decode_payload(done.result, TurnStartResponse).turn.id
        turn = self._claim_turn(turn_id)
        if not turn.reported:
            turn.reported = True
            model = start.model if isinstance(start, RunTurn) else start.params.get("model")
            if isinstance(model, str):
                turn.model = self._entry.model = model  # a turn's model stays the thread's for later turns
            turn.trace = start.trace
            self._emit(
                "turn.start",
                {
                    "thread_id": self.thread_id,
                    "turn_id": turn_id,
                    "model": self._model(turn),
                    "traceparent": None if turn.trace is None else turn.trace.get("traceparent"),
                },
            )
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "thread %s: turn %s started",
                self.thread_id,
                turn_id,
                extra={"thread_id": self.thread_id, "turn_id": turn_id},
            )
        if not turn.ended:
            self._arm_deadline(turn)
        if isinstance(start, StartTurn):
            subscriber = turn.log.subscribe(from_start=True)
            reply_value(start.reply, TurnStarted(turn_id, turn.log, subscriber))
        elif turn.ended:
            self._tell_finished(start, turn)
        else:
            turn.listeners.append(start)

    def _cancel(self, message: CancelRequest) -> None:
        """A caller stopped waiting: forget its request here and at the port."""
        kept = []
        for held in self._held:
            if getattr(held, "reply", None) is message.reply:
                self._retried.discard(id(held))
            else:
                kept.append(held)
        self._held = kept
        for tag, start in list(self._starts.items()):
            if isinstance(start, StartTurn) and start.reply is message.reply:
                self._retried.discard(id(start))
                del self._starts[tag]
        if not self._starts:
            self._no_start_in_flight()
        if self._connection is not None:
            self._connection.cancel(message.reply)

    def _subscribe(self, message: SubscribeTurn) -> None:
        turn = self._turns.get(message.turn_id)
        if turn is None and message.turn_id in self._entry.forgotten:
            # It ended long ago: an ended, empty log, so the handle's stream ends at once.
            turn = _Turn(message.turn_id, TurnLog(message.turn_id, retain=False), TurnAccumulator(message.turn_id))
            turn.log.finish()
        else:
            turn = self._claim_turn(message.turn_id)
        subscriber = turn.log.subscribe(from_start=message.from_start)
        turn.log.set_retain(bool(self._starts))  # kept whole only while a turn/start in flight may claim it too
        reply_value(message.reply, TurnStarted(turn.turn_id, turn.log, subscriber))

    # -- engine restarts --------------------------------------------------------------------------------------

    def _on_engine_down(self, error: BaseException) -> None:
        self._down = error
        self._resuming = None
        self._needs_resume = True
        self._stopping.clear()  # its turns are gone with it; held requests wait for the resume
        self._interrupts.clear()
        self._fail_active_turns(error)

    def _on_engine_up(self, connection: EngineHandle) -> None:
        if connection is self._connection and self._down is None:
            return  # started on this engine already
        self._connection = connection
        connection.bind_thread(self.thread_id, self._deliver)
        self._down = None
        self._needs_resume = True
        self._resume_attempt = 0
        if self._held:  # requests waited through the restart: this thread is in use, resume it now
            self._resume()

    def _resume(self) -> None:
        """Send ``thread/resume`` to the current engine; held requests go out when it answers."""
        assert self._connection is not None
        self._resuming = next(self._tags)
        loaded = self._entry.loaded
        self._resume_reason = (
            "engine_restart" if loaded is not None and loaded != self._generation else "not_loaded"
        )
        self._resume_generation = self._generation
        logger.debug(
            "thread %s: resuming (attempt %d)",
            self.thread_id,
            self._resume_attempt + 1,
            extra={"thread_id": self.thread_id, "attempt": self._resume_attempt + 1},
        )
        services = self._entry.services  # what the thread was opened with: its approval settings, MCP servers
        params = {
            **(services.resume if services is not None else {}),
            "threadId": self.thread_id,
            "excludeTurns": True,
        }
        self._connection.send("thread/resume", params, ActorReply(self.actor_ref, self._resuming))

    def _on_resumed(self, done: RequestDone) -> None:
        self._resuming = None
        error = done.error
        if not isinstance(error, TransportClosedError):  # a resume the engine answered
            outcome = "ok" if error is None else type(error).__name__
            metadata = {"thread_id": self.thread_id, "reason": self._resume_reason, "outcome": outcome}
            self._emit("thread.resume", metadata)
        if error is None:
            self._needs_resume = False
            self._resume_attempt = 0
            self._tried_engines.clear()
            self._entry.loaded = self._resume_generation
            logger.info("thread %s resumed", self.thread_id, extra={"thread_id": self.thread_id})
            self._send_held()
            return
        if isinstance(error, TransportClosedError):
            return  # the engine died again: the requests wait for the next one (EngineDown, EngineUp)
        if self._move(error):
            return
        self._resume_attempt += 1
        options = self._options
        if is_retryable_error(error) and self._resume_attempt < options.resume_attempts and self._timers:
            delay = min(options.resume_max_delay, options.resume_initial_delay * 2 ** (self._resume_attempt - 1))
            delay *= random.uniform(0.8, 1.2)
            logger.info(
                "thread %s: resume refused (%s); retrying in %.2f s",
                self.thread_id,
                error,
                delay,
                extra={"thread_id": self.thread_id, "attempt": self._resume_attempt},
            )
            self._resume_backoff = True
            self._tell_later(delay, _RETRY_RESUME)
            return
        self._resume_attempt = 0
        failure = _unknown_thread(self.thread_id, error)
        held, self._held = self._held, []
        if isinstance(failure, UnknownThreadError):
            # No rollout to resume from: a thread started here with no turn yet is loaded all the same, so the
            # requests go out (a thread the engine does not know at all then fails them itself).
            logger.info(
                "thread %s has nothing to resume (%s); sending its requests as they are",
                self.thread_id,
                error,
                extra={"thread_id": self.thread_id},
            )
            self._needs_resume = False
            for message in held:
                if not isinstance(message, ThreadRequest):
                    self._retried.add(id(message))  # a resume would not help these: no second try
                self._on_request(message)
            return
        logger.warning(
            "thread %s could not be resumed: %s", self.thread_id, error, extra={"thread_id": self.thread_id}
        )
        for message in held:  # the next use tries again
            self._fail_request(message, failure)

    def _move(self, error: BaseException) -> bool:
        """Another engine of the pool holds the thread (its resume said so): have the root place it on another.

        Each engine is tried once; the requests wait meanwhile. False (nothing done) for any other error.
        """
        directory = self._directory
        if directory is None or directory.engines == 1 or ACTIVE_WRITER not in str(error):
            return False
        tried = self._tried_engines
        tried.add(self._entry.engine or 0)
        supervisor = self.context.supervisor if self.context is not None else None
        if len(tried) >= directory.engines or supervisor is None:
            return False
        logger.info(
            "thread %s is loaded on another engine of the pool; moving it",
            self.thread_id,
            extra={"thread_id": self.thread_id},
        )
        self._resuming = -1  # nothing else goes out until the root answers
        tell_quietly(supervisor, MoveThread(self.thread_id, frozenset(tried)))
        return True

    def _on_moved(self, moved: ThreadMoved) -> None:
        """The root placed the thread on ``moved.engine``: resume it there."""
        self._resuming = None
        if self._connection is not None:
            self._connection.unbind_thread(self.thread_id, self._deliver)
        self._connection = moved.connection
        if moved.connection is None:  # that engine restarts: its EngineUp resumes the thread
            self._down = not_running()
            return
        moved.connection.bind_thread(self.thread_id, self._deliver)
        self._down = None
        if self._held:
            self._resume()

    # -- turn timeouts ----------------------------------------------------------------------------------------

    def _arm_deadline(self, turn: _Turn) -> None:
        if self._turn_timeout is None or turn.deadline_armed:
            return
        turn.deadline_armed = True
        self._tell_later(self._turn_timeout, TurnDeadline(turn.turn_id))

    def _on_deadline(self, turn_id: str) -> None:
        turn = self._turns.get(turn_id)
        if turn is not None and not turn.ended:
            self._time_out(turn)
        elif turn_id in self._stopping:  # the engine never said the timed-out turn ended: go on anyway
            logger.debug(
                "thread %s: turn %s not confirmed stopped within %g s; starting the next turn anyway",
                self.thread_id,
                turn_id,
                STOP_GRACE_S,
                extra={"thread_id": self.thread_id, "turn_id": turn_id},
            )
            self._stopped(turn_id)

    def _time_out(self, turn: _Turn) -> None:
        """Interrupt the turn (best effort) and end it with :class:`TurnTimeoutError`."""
        timeout = self._turn_timeout
        assert timeout is not None
        logger.info(
            "thread %s: turn %s still running after %g s; interrupting it",
            self.thread_id,
            turn.turn_id,
            timeout,
            extra={"thread_id": self.thread_id, "turn_id": turn.turn_id, "timeout_s": timeout},
        )
        connection = self._connection
        if connection is not None and self._down is None:
            tag = next(self._tags)
            self._interrupts[tag] = turn.turn_id
            self._stopping.add(turn.turn_id)
            params = {"threadId": self.thread_id, "turnId": turn.turn_id}
            connection.send("turn/interrupt", params, ActorReply(self.actor_ref, tag))
            self._tell_later(STOP_GRACE_S, TurnDeadline(turn.turn_id))
        self._finish(turn, error=TurnTimeoutError(turn.turn_id, timeout))

    def _stopped(self, turn_id: str) -> None:
        """A timed-out turn is over in the engine: the requests held for it go out (once none is stopping)."""
        self._stopping.discard(turn_id)
        if not self._stopping:
            self._send_held()

    def _send_held(self) -> None:
        """What waited (for a resume, for a timed-out turn to stop) goes out now, in order."""
        held, self._held = self._held, []
        for message in held:
            self._on_request(message)

    # -- turns ------------------------------------------------------------------------------------------------

    def _new_turn(self, turn_id: str) -> _Turn:
        turn = _Turn(turn_id, TurnLog(turn_id, retain=True, coalescer=DELTAS), TurnAccumulator(turn_id))
        self._turns[turn_id] = turn
        return turn

    def _claim_turn(self, turn_id: str) -> _Turn:
        """The turn a turn/start reply or a subscription names, from now on kept as any claimed turn."""
        self._unclaimed.pop(turn_id, None)
        return self._turns.get(turn_id) or self._new_turn(turn_id)

    def _unknown_turn(self, turn_id: str) -> _Turn | None:
        """A table entry for events of a turn nobody claimed, or ``None``: they are not kept.

        Only a turn/start in flight may claim such a turn (its first events can come before its reply), so only
        then is one kept, and at most ``UNCLAIMED_TURNS_KEPT`` of them (the oldest are dropped).
        """
        if not self._starts:
            return None
        unclaimed = self._unclaimed
        while len(unclaimed) >= UNCLAIMED_TURNS_KEPT:
            self._forget_unclaimed(unclaimed.popitem(last=False)[0])
        unclaimed[turn_id] = None
        return self._new_turn(turn_id)

    def _forget_unclaimed(self, turn_id: str) -> None:
        turn = self._turns.pop(turn_id, None)
        if turn is not None and turn.ended:
            with contextlib.suppress(ValueError):
                self._completed.remove(turn_id)  # at most COMPLETED_TURNS_KEPT long
            self._entry.forget_turn(turn_id)

    def _drop_unclaimed(self) -> None:
        """No turn/start is in flight any more: nobody can claim what nobody claimed."""
        unclaimed, self._unclaimed = self._unclaimed, collections.OrderedDict()
        for turn_id in unclaimed:
            self._forget_unclaimed(turn_id)

    def _no_start_in_flight(self) -> None:
        self._retain_all(False)
        self._drop_unclaimed()

    def _retain_all(self, retain: bool) -> None:
        for turn in self._turns.values():
            turn.log.set_retain(retain)

    def _finish(
        self, turn: _Turn, *, result: TurnResult | None = None, error: BaseException | None = None
    ) -> None:
        turn.result, turn.error = result, error
        if turn.reported:
            self._report_end(turn, result, error)
        if logger.isEnabledFor(logging.DEBUG):
            outcome = result.status.value if result is not None else f"{type(error).__name__}: {error}"
            logger.debug(
                "thread %s: turn %s ended: %s",
                self.thread_id,
                turn.turn_id,
                outcome,
                extra={"thread_id": self.thread_id, "turn_id": turn.turn_id, "outcome": outcome},
            )
        turn.log.finish(None if error is None else fresh(error), result=result)
        turn.log.set_retain(bool(self._starts))  # a turn/start in flight may still claim it whole
        for listener in turn.listeners:
            self._tell_finished(listener, turn)
        turn.listeners.clear()
        self._completed.append(turn.turn_id)
        while len(self._completed) > COMPLETED_TURNS_KEPT:
            forgotten = self._completed.popleft()
            self._turns.pop(forgotten, None)
            self._unclaimed.pop(forgotten, None)
            self._entry.forget_turn(forgotten)

    def _report_end(self, turn: _Turn, result: TurnResult | None, error: BaseException | None) -> None:
        """Tell telemetry ``turn.stop``: how it ended, how long it took, its first output, its tokens."""
        if result is not None:
            status = result.status.value
        else:
            status = "timed_out" if isinstance(error, TurnTimeoutError) else "error"
        failure = error if error is not None else None
        measurements: dict[str, float] = {"duration_s": time.monotonic() - turn.started}
        if turn.first_output is not None:
            measurements["time_to_first_token_s"] = turn.first_output - turn.started
        measurements.update(turn.tokens)
        self._emit(
            "turn.stop",
            {
                "thread_id": self.thread_id,
                "turn_id": turn.turn_id,
                "model": self._model(turn),
                "status": status,
                "error": None if failure is None else type(failure).__name__,
                "traceparent": None if turn.trace is None else turn.trace.get("traceparent"),
            },
            **measurements,
        )

    def _fail_active_turns(self, error: BaseException) -> None:
        for turn in list(self._turns.values()):
            if not turn.ended:
                self._finish(turn, error=error)

    def _tell_finished(self, run: RunTurn, turn: _Turn) -> None:
        result, error = turn.result, None if turn.error is None else fresh(turn.error)
        if result is not None:
            try:  # the error run() would raise: a failed turn, an answer that does not fit output_type
                result = run_result(result, run.output_type)
            except Exception as exc:
                error = exc
                result = dataclasses.replace(result, items=list(result.items))
        self._answer_run(run, turn.turn_id, result, error)

    def _answer_run(
        self, run: RunTurn, turn_id: str | None, result: TurnResult | None, error: BaseException | None
    ) -> None:
        if run.reply_to is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                run.reply_to.tell(TurnFinished(self.thread_id, turn_id, result, error, run.tag))

    def _fail_request(self, message: StartTurn | RunTurn | ThreadRequest, error: BaseException) -> None:
        self._retried.discard(id(message))  # it leaves this actor: its id may be another message's next
        if isinstance(message, RunTurn):
            self._answer_run(message, None, None, fresh(error))
        else:
            reply_error(message.reply, fresh(error))
