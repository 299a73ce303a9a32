"""The thread actor: one per live Codex thread. It owns the thread's turns and survives engine restarts.

The port's reader thread decodes this thread's notifications and hands them over in batches: they queue in the
actor's intake, and one :class:`DrainNotifications` is told while none is pending. The actor appends each
turn's events to its :class:`~codex_actors.actors._turnlog.TurnLog` (which every subscriber reads at its own
cursor) and feeds the turn's :class:`~codex_actors._results.TurnAccumulator`; at ``turn/completed`` the log
ends carrying the turn's :class:`~codex_actors._results.TurnResult`, assembled here once for every reader and
every :class:`RunTurn` sender. Notifications of the thread that belong to no turn go to the global sink.

It never blocks, and it talks to its engine only through an
:class:`~codex_actors.actors._messages.EngineHandle`: requests go out with their replies delivered back as
:class:`RequestDone` messages. When the engine dies (:class:`EngineDown`) every in-flight turn fails with a
``TransportClosedError``; requests that arrive meanwhile are held; when a new engine is up (:class:`EngineUp`)
the thread is resumed on it (``thread/resume``) and the held requests go out, so the same thread keeps working.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pykka

from .._failures import fresh, not_running
from .._protocol.generated import TurnStartResponse
from .._protocol.jsonrpc import ServerNotification, decode_payload
from .._protocol.notifications import TYPED_NOTIFICATIONS
from .._results import RESULT_METHODS, TurnAccumulator, TurnResult
from ..errors import TransportClosedError
from ..models import Notification
from ._messages import (
    CancelRequest,
    DrainNotifications,
    EngineDown,
    EngineHandle,
    EngineUp,
    NotificationSink,
    RunTurn,
    StartTurn,
    SubscribeTurn,
    ThreadRequest,
    TurnFinished,
    TurnStarted,
)
from ._reply import ActorReply, RequestDone, reply_error, reply_value
from ._supervisor import ChildContext, SupervisedActor
from ._turnlog import TurnLog

__all__ = ["ThreadActor", "thread_child_name"]

logger = logging.getLogger("codex_actors.thread")

#: Completed turns whose logs stay reachable for late subscribers.
COMPLETED_TURNS_KEPT = 8
#: Ids of finished turns no longer kept, remembered so a late subscriber gets an ended log, not a wait.
FORGOTTEN_TURNS_KEPT = 4096
#: Requests held while the engine restarts; past this they fail at once.
MAX_HELD_REQUESTS = 1024


_DRAIN = DrainNotifications()
_PAYLOAD_TURN_ID = operator.attrgetter("payload.turn_id")
#: The typed notification classes that never change a turn's result (a batch of only these skips the loop).
_RESULT_NEUTRAL_TYPES = frozenset(
    cls for method, cls in TYPED_NOTIFICATIONS.items() if method not in RESULT_METHODS
)


def thread_child_name(thread_id: str) -> str:
    """The supervisor child name of a thread's actor."""
    return f"thread:{thread_id}"


@dataclass(eq=False)
class _Turn:
    turn_id: str
    log: TurnLog[Notification]
    accumulator: TurnAccumulator
    result: TurnResult | None = None
    error: BaseException | None = None
    listeners: list[RunTurn] = field(default_factory=list)

    @property
    def ended(self) -> bool:
        return self.result is not None or self.error is not None


class ThreadActor(SupervisedActor):
    """The actor of one Codex thread. Start it with the thread id and the engine connection."""

    use_daemon_thread = True

    def __init__(
        self,
        context: ChildContext | None,
        thread_id: str,
        connection: EngineHandle,
        *,
        global_sink: NotificationSink | None = None,
    ) -> None:
        super().__init__(context)
        self.thread_id = thread_id
        self._connection = connection
        self._global_sink = global_sink
        self._turns: dict[str, _Turn] = {}
        self._completed: collections.deque[str] = collections.deque()
        self._tags = itertools.count()
        self._starts: dict[int, StartTurn | RunTurn] = {}
        self._down: BaseException | None = None
        self._resuming: int | None = None
        self._unresumable: BaseException | None = None
        self._forgotten: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._held: list[StartTurn | RunTurn | ThreadRequest] = []
        self._intake: collections.deque[Sequence[ServerNotification]] = collections.deque()
        self._drain_pending = False

    # -- lifecycle --------------------------------------------------------------------------------------------

    def on_start(self) -> None:
        """Claim this thread's notifications."""
        self._connection.bind_thread(self.thread_id, self._deliver)

    def on_stop(self) -> None:
        """Release the thread's notifications and fail whatever still waits."""
        self._release(TransportClosedError(f"the actor of thread {self.thread_id} stopped"))
        super().on_stop()

    def on_failure(self, *exc_info: Any) -> None:
        """Same release as a stop, then report the crash."""
        self._release(TransportClosedError(f"the actor of thread {self.thread_id} crashed"))
        super().on_failure(*exc_info)

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

    def _release(self, error: BaseException) -> None:
        self._connection.unbind_thread(self.thread_id, self._deliver)
        self._fail_active_turns(error)
        for held in self._held:
            self._fail_request(held, error)
        self._held.clear()
        for start in self._starts.values():
            self._fail_request(start, error)
        self._starts.clear()

    # -- messages ---------------------------------------------------------------------------------------------

    def on_receive(self, message: Any) -> Any:
        """Dispatch one typed message."""
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
            case _:
                raise TypeError(f"ThreadActor got an unknown message: {message!r}")
        return None

    def _on_notifications(self, items: Sequence[ServerNotification]) -> None:
        try:
            turns = set(map(_PAYLOAD_TURN_ID, items))
        except AttributeError:  # a payload without a turn id (turn/started, a thread event...): the loop below
            turns = set()
        if len(turns) == 1 and None not in turns and _RESULT_NEUTRAL_TYPES.issuperset(map(type, items)):
            # The common case (a stream of deltas): one turn, nothing that changes its result, no per-event work.
            turn_id = turns.pop()
            turn = self._turns.get(turn_id) or self._new_turn(turn_id)
            if not turn.ended:
                turn.log.extend(items)
            return
        touched: dict[str, list[Notification]] = {}
        finished: list[_Turn] = []
        completed: set[str] = set()
        unowned: list[ServerNotification] = []
        for note in items:
            turn_id = note.turn_id
            if turn_id is None:
                unowned.append(note)
                continue
            turn = self._turns.get(turn_id) or self._new_turn(turn_id)
            if turn.ended or turn_id in completed:
                continue  # a straggler after the turn's end: turn/completed is always the log's last event
            events = touched.get(turn_id)
            if events is None:
                events = touched[turn_id] = []
            events.append(note)
            if note.method in RESULT_METHODS and turn.accumulator.add(note.payload):
                finished.append(turn)
                completed.add(turn_id)
        for turn_id, events in touched.items():
            self._turns[turn_id].log.extend(events)
        for turn in finished:
            self._finish(turn, result=turn.accumulator.result())
        if unowned and self._global_sink is not None:
            self._global_sink(unowned)

    def _on_request(self, message: StartTurn | RunTurn | ThreadRequest) -> None:
        if self._unresumable is not None:
            self._fail_request(message, self._unresumable)
            return
        if self._down is None and self._resuming is None and not self._connection.alive:
            # The engine died and the supervisor has not said so yet: hold this for the new engine.
            self._down = not_running()
        if self._down is not None or self._resuming is not None:
            if len(self._held) >= MAX_HELD_REQUESTS:
                error = TransportClosedError("too many requests held while the engine restarts")
                self._fail_request(message, error)
            else:
                self._held.append(message)
            return
        if isinstance(message, ThreadRequest):
            params = {"threadId": self.thread_id, **message.params}
            self._connection.send(message.method, params, message.reply)
            return
        # The turn/start reply comes back here, not to the caller, so that the caller's cursor can be placed at
        # the log's very start. The price: while any turn/start is in flight, every log of this thread is kept
        # whole (a turn's first events may arrive before the reply that names it).
        tag = next(self._tags)
        self._starts[tag] = message
        self._retain_all(True)
        params = {**message.params, "threadId": self.thread_id}
        self._connection.send("turn/start", params, ActorReply(self.actor_ref, tag))

    def _on_request_done(self, done: RequestDone) -> None:
        if done.tag == self._resuming:
            self._on_resumed(done)
            return
        start = self._starts.pop(done.tag, None)
        if start is None:
            return
        try:
            self._claim(start, done)
        finally:
            # Only now, with the caller subscribed, may logs drop what every subscriber has read.
            if not self._starts:
                self._retain_all(False)

    def _claim(self, start: StartTurn | RunTurn, done: RequestDone) -> None:
        if done.error is not None or done.result is None:
            self._fail_request(start, done.error or TransportClosedError("turn/start got no result"))
            return
        turn_id = decode_payload(done.result, TurnStartResponse).turn.id
        turn = self._turns.get(turn_id) or self._new_turn(turn_id)
        if isinstance(start, StartTurn):
            subscriber = turn.log.subscribe(from_start=True)
            reply_value(start.reply, TurnStarted(turn_id, turn.log, subscriber))
        elif turn.ended:
            self._tell_finished(start, turn)
        else:
            turn.listeners.append(start)

    def _cancel(self, message: CancelRequest) -> None:
        """A caller stopped waiting: forget its request here and at the port."""
        self._held = [held for held in self._held if getattr(held, "reply", None) is not message.reply]
        for tag, start in list(self._starts.items()):
            if isinstance(start, StartTurn) and start.reply is message.reply:
                del self._starts[tag]
        if not self._starts:
            self._retain_all(False)
        self._connection.cancel(message.reply)

    def _subscribe(self, message: SubscribeTurn) -> None:
        turn = self._turns.get(message.turn_id)
        if turn is None and message.turn_id in self._forgotten:
            # It ended long ago: an ended, empty log, so the handle's stream ends at once.
            turn = _Turn(message.turn_id, TurnLog(message.turn_id, retain=False), TurnAccumulator(message.turn_id))
            turn.log.finish()
        elif turn is None:
            turn = self._new_turn(message.turn_id)
        subscriber = turn.log.subscribe(from_start=message.from_start)
        reply_value(message.reply, TurnStarted(turn.turn_id, turn.log, subscriber))

    # -- engine restarts --------------------------------------------------------------------------------------

    def _on_engine_down(self, error: BaseException) -> None:
        self._down = error
        self._resuming = None
        self._fail_active_turns(error)

    def _on_engine_up(self, connection: EngineHandle) -> None:
        self._connection = connection
        self._unresumable = None
        connection.bind_thread(self.thread_id, self._deliver)
        self._resuming = next(self._tags)
        self._down = None
        params = {"threadId": self.thread_id, "excludeTurns": True}
        connection.send("thread/resume", params, ActorReply(self.actor_ref, self._resuming))

    def _on_resumed(self, done: RequestDone) -> None:
        self._resuming = None
        held, self._held = self._held, []
        if done.error is not None:
            logger.warning("thread %s could not be resumed: %s", self.thread_id, done.error)
            self._unresumable = TransportClosedError(
                f"thread {self.thread_id} could not be resumed after the engine restarted: {done.error}"
            )
            for message in held:
                self._fail_request(message, self._unresumable)
            return
        logger.info("thread %s resumed on the new engine", self.thread_id)
        for message in held:
            self._on_request(message)

    # -- turns ------------------------------------------------------------------------------------------------

    def _new_turn(self, turn_id: str) -> _Turn:
        turn = _Turn(turn_id, TurnLog(turn_id, retain=True), TurnAccumulator(turn_id))
        self._turns[turn_id] = turn
        return turn

    def _retain_all(self, retain: bool) -> None:
        for turn in self._turns.values():
            turn.log.set_retain(retain)

    def _finish(
        self, turn: _Turn, *, result: TurnResult | None = None, error: BaseException | None = None
    ) -> None:
        turn.result, turn.error = result, error
        turn.log.finish(None if error is None else fresh(error), result=result)
        turn.log.set_retain(bool(self._starts))  # a turn/start in flight may still claim it whole
        for listener in turn.listeners:
            self._tell_finished(listener, turn)
        turn.listeners.clear()
        self._completed.append(turn.turn_id)
        while len(self._completed) > COMPLETED_TURNS_KEPT:
            forgotten = self._completed.popleft()
            self._turns.pop(forgotten, None)
            self._forgotten[forgotten] = None
            while len(self._forgotten) > FORGOTTEN_TURNS_KEPT:
                self._forgotten.popitem(last=False)

    def _fail_active_turns(self, error: BaseException) -> None:
        for turn in list(self._turns.values()):
            if not turn.ended:
                self._finish(turn, error=error)

    def _tell_finished(self, run: RunTurn, turn: _Turn) -> None:
        error = None if turn.error is None else fresh(turn.error)
        with contextlib.suppress(pykka.ActorDeadError):
            run.reply_to.tell(TurnFinished(self.thread_id, turn.turn_id, turn.result, error, run.tag))

    def _fail_request(self, message: StartTurn | RunTurn | ThreadRequest, error: BaseException) -> None:
        if isinstance(message, RunTurn):
            with contextlib.suppress(pykka.ActorDeadError):
                message.reply_to.tell(TurnFinished(self.thread_id, None, None, fresh(error), message.tag))
        else:
            reply_error(message.reply, fresh(error))
