"""Supervision for pykka actors in the Erlang/OTP style (pykka itself has no links or supervisors).

A :class:`Supervisor` starts children from :class:`ChildSpec` objects and restarts them when they exit:

* **One-for-one.** When a child exits, only that child is restarted, with ``generation + 1``; its siblings
  are not touched. Its :class:`RestartPolicy` decides: ``permanent`` is always restarted, ``transient`` only
  after an abnormal exit (a crash), ``temporary`` never. A child that is not restarted is removed.
* **Reports.** Children subclass :class:`SupervisedActor`, which tells the supervisor :class:`ChildExited`
  exactly once per incarnation: ``reason=None`` for a normal stop, the exception for a crash.
* **Stale reports.** Every incarnation knows its generation (its :class:`ChildContext`), and generations of a
  name never repeat. A report whose generation is not the child's current one (an older incarnation, a
  failed start attempt, or a child the supervisor stopped itself) is ignored, so restarts never race.
* **Acknowledged starts.** A child whose spec says ``acknowledged`` takes time to become usable after a restart
  (the engine port: a new process, then its handshake). Its start function only begins that and returns at
  once, so the supervisor's mailbox stays open (stop, asks, other children's reports) however long it takes;
  the restarted incarnation is *starting* until the supervisor is told :class:`ChildReady` (by whoever watches
  the start; OTP's ``proc_lib:init_ack``, made asynchronous). A starting incarnation that exits is a failed
  restart attempt, not a crash: :meth:`Supervisor.on_child_down` is not called again, and it is restarted
  (counted) like a start function that raised. :meth:`Supervisor.on_child_restarted` runs at the
  acknowledgement. A child's first start (its start function returning) needs no acknowledgement.
* **Intensity.** Restarts of all children, failed start attempts included, are counted in a sliding window
  of ``max_seconds``. A restart that would make more than ``max_restarts`` in the window is not made. And
  since an attempt may take longer than the window (a handshake that times out), failed attempts in a row
  are counted too, whatever their times: a child whose last ``max_restarts`` restart attempts all failed is not
  restarted again. A successful start ends the run.
* **Escalation.** Instead, the supervisor gives up: it records :attr:`Supervisor.escalation` (a
  :class:`SupervisorGaveUp` naming the last reason: the child's crash, or why its last attempt failed; or what
  :meth:`Supervisor.escalation_error` makes of it: the root supervisor makes it an
  :class:`~codex_actors.errors.EngineCrashed`), stops every child in reverse start order and
  calls :meth:`Supervisor.on_escalate`. From then on its own asks raise that error (``WhichChildren``
  answers ``[]``). It stays alive until stopped, so callers get the error rather than ``ActorDeadError``.

Children the supervisor stops itself (``TerminateChild``, escalation, its own stop) are never restarted.
Stopping waits for each child at most its ``stop_timeout``; a child still running then is logged and left.
"""

from __future__ import annotations

import collections
import contextlib
import enum
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
import pykka

from .._failures import fresh
from .._logs import describe

if TYPE_CHECKING:
    from types import TracebackType

__all__ = [
    "ChildContext",
    "ChildExited",
    "ChildInfo",
    "ChildReady",
    "ChildSpec",
    "GetChild",
    "RestartPolicy",
    "StartChild",
    "SupervisedActor",
    "Supervisor",
    "SupervisorGaveUp",
    "TerminateChild",
    "WhichChildren",
]

logger = logging.getLogger("codex_actors.supervisor")


class SupervisorGaveUp(Exception):
    """A supervisor stopped restarting: a child needed more restarts within the window than allowed.

    ``reason`` (also the ``__cause__``) is why the child last exited (``None`` for a normal exit). ``in_a_row``:
    the limit tripped was the run of failed restart attempts (however long each took), not the window.
    """

    def __init__(
        self,
        supervisor: str,
        child: str,
        restarts: int,
        *,
        max_restarts: int,
        max_seconds: float,
        reason: BaseException | None,
        in_a_row: bool = False,
    ) -> None:
        needed = (
            f"failed {restarts - 1} restart attempts in a row"
            if in_a_row
            else f"needed {restarts} restarts within {max_seconds:g} s"
        )
        super().__init__(
            f"supervisor {supervisor!r} gave up: child {child!r} {needed}, more than max_restarts={max_restarts}; "
            f"last reason: {'normal exit' if reason is None else repr(reason)}"
        )
        self.supervisor = supervisor
        self.child = child
        self.reason = reason
        self.__cause__ = reason


class RestartPolicy(enum.StrEnum):
    """When a child that exited is restarted (a ``str`` enum: ``str(policy)`` is its value)."""

    permanent = "permanent"
    """Always, whether it crashed or stopped normally."""
    transient = "transient"
    """Only after an abnormal exit (a crash)."""
    temporary = "temporary"
    """Never."""


class ChildContext(msgspec.Struct, frozen=True):
    """What one incarnation of a child needs to report to its supervisor."""

    supervisor: pykka.ActorRef[Any]
    name: str
    generation: int


@dataclass(frozen=True)
class ChildSpec:
    """How to start a child, and when to restart it.

    ``start`` starts the child (normally a :class:`SupervisedActor` given the context) and returns its ref. It
    runs on the supervisor's thread and may block briefly (for example to ask the new actor to connect), but
    must not ask the supervisor. If it raises, that start attempt failed, and it must clean up what it started
    itself. With ``acknowledged``, a restarted incarnation counts as started only once :class:`ChildReady` is
    told (see the module docstring): what takes long is waited for off the supervisor's thread.
    """

    name: str
    start: Callable[[ChildContext], pykka.ActorRef[Any]]
    restart: RestartPolicy = RestartPolicy.permanent
    stop_timeout: float = 10.0
    acknowledged: bool = False


class ChildExited(msgspec.Struct, frozen=True):
    """Tell (child to supervisor): an incarnation ended; ``reason`` is ``None`` for a normal stop."""

    name: str
    generation: int
    reason: BaseException | None


class ChildReady(msgspec.Struct, frozen=True):
    """Tell (to the supervisor): a restarted ``acknowledged`` child's incarnation is up (stale ones ignored)."""

    name: str
    generation: int


class StartChild(msgspec.Struct, frozen=True):
    """Ask: start a child now; the answer is its ref. Raises if the name is taken or after escalation."""

    spec: ChildSpec


class TerminateChild(msgspec.Struct, frozen=True):
    """Ask: stop a child for good (no restart) and forget it. An unknown name is a no-op."""

    name: str


class WhichChildren(msgspec.Struct, frozen=True):
    """Ask: a :class:`ChildInfo` per child, in start order (``[]`` after escalation)."""


class GetChild(msgspec.Struct, frozen=True):
    """Ask: the child's current ref, or ``None`` if there is no such child or it is down."""

    name: str


class ChildInfo(msgspec.Struct, frozen=True):
    """One child as the supervisor sees it; ``restarts`` counts restart attempts, failed ones included."""

    name: str
    restart: RestartPolicy
    restarts: int
    generation: int
    alive: bool


class _RetryRestart(msgspec.Struct, frozen=True):
    """Tell (supervisor to itself): a restart attempt failed; try again (the intensity bounds it)."""

    name: str
    generation: int
    reason: BaseException


class SupervisedActor(pykka.ThreadingActor):
    """Base class of a supervised child: reports its exit to its supervisor exactly once per incarnation.

    The report (:class:`ChildExited`) is sent from :meth:`on_stop` (``reason=None``) or :meth:`on_failure`
    (the exception). Subclasses that override either must call ``super()``, preferably last, so that the
    supervisor restarts the child only after its cleanup. If neither runs (``on_start`` raised) the report is
    sent when the actor's thread ends. A dead supervisor is ignored. ``context`` is ``None`` when the actor
    runs unsupervised (for example in tests): then nothing is reported.
    """

    def __init__(self, context: ChildContext | None = None) -> None:
        super().__init__()
        self.context = context
        self._reported = False
        self._failure: BaseException | None = None

    def crash(self, error: BaseException) -> None:
        """Stop now as a crash with ``error`` as the reason, without pykka's "Unhandled exception" log.

        For a child that finds itself broken (for example its engine process died). Call it on the actor's
        own thread (from a message handler or ``on_start``). The rest of the inbox is not processed (pending
        asks get ``ActorDeadError``); :meth:`on_failure` runs, :meth:`on_stop` does not, as for a crash.
        """
        # Supervised, the supervisor logs the exit (with the child's name); unsupervised, nobody else will.
        context = self.context
        level = logging.DEBUG if context is not None else logging.WARNING
        if logger.isEnabledFor(level):
            reason = describe(error)
            child = None if context is None else context.name
            logger.log(level, "%s crashed: %s", self, reason, extra={"child": child, "reason": reason})
        self._failure = error
        pykka.ActorRegistry.unregister(self.actor_ref)
        self.actor_stopped.set()
        try:
            self.on_failure(type(error), error, error.__traceback__)
        except Exception as exc:
            self._handle_failure(type(exc), exc, exc.__traceback__)
        self._report(error)

    def on_stop(self) -> None:
        """Report a normal exit. Overrides must call ``super().on_stop()``."""
        self._report(None)

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Report an abnormal exit. Overrides must call ``super().on_failure(...)``."""
        self._report(exception_value if exception_value is not None else RuntimeError(f"{self} failed"))

    def _report(self, reason: BaseException | None) -> None:
        if self._reported:
            return
        self._reported = True
        if self.context is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                self.context.supervisor.tell(ChildExited(self.context.name, self.context.generation, reason))

    def _handle_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Remember the first failure, for the report at the end of the thread if no hook sent one.
        if self._failure is None:
            self._failure = exception_value
        super()._handle_failure(exception_type, exception_value, traceback)

    def _actor_loop(self) -> None:
        try:
            super()._actor_loop()
        finally:
            self._report(self._failure)


@dataclass
class _Child:
    spec: ChildSpec
    ref: pykka.ActorRef[Any] | None
    generation: int
    restarts: int = 0
    #: Whether the incarnation is up (False while an acknowledged restart is under way).
    ready: bool = True
    #: Restart attempts that failed since the last successful start.
    failures: int = 0


class Supervisor(pykka.ThreadingActor):
    """A one-for-one supervisor with OTP-style restart intensity (see the module docstring).

    Subclasses may override the hooks :meth:`on_child_down`, :meth:`on_child_restarted`, :meth:`on_escalate`
    (they run on the supervisor's thread, so they must not ask the supervisor; an exception from a hook is
    logged and ignored) and handle messages of their own in :meth:`on_other_message`. Overrides of
    ``on_start``, ``on_stop`` and ``on_failure`` must call ``super()``.
    """

    def __init__(
        self,
        children: Sequence[ChildSpec] = (),
        *,
        max_restarts: int = 3,
        max_seconds: float = 5.0,
        name: str = "supervisor",
    ) -> None:
        super().__init__()
        self.name = name
        self.max_restarts = max_restarts
        self.max_seconds = max_seconds
        self.escalation: BaseException | None = None
        """Set when the supervisor gave up restarting; its asks then raise (a fresh copy of) this error."""
        self._initial = tuple(children)
        self._children: dict[str, _Child] = {}
        self._generations: dict[str, int] = {}
        self._generation_floor = 0
        self._restart_times: collections.deque[float] = collections.deque()

    def on_start(self) -> None:
        """Start the initial children in order; if one fails, stop those started and raise."""
        try:
            for spec in self._initial:
                self._start_new(spec)
        except Exception:
            self._stop_children()
            raise

    def on_stop(self) -> None:
        """Stop all children in reverse start order."""
        self._stop_children()

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """The supervisor itself crashed: stop all children in reverse start order."""
        self._stop_children()

    def on_receive(self, message: Any) -> Any:
        """Handle the supervisor's messages; anything else goes to :meth:`on_other_message`."""
        match message:
            case ChildExited():
                self._child_exited(message)
            case ChildReady(name=name, generation=generation):
                self.acknowledge(name, generation)
            case _RetryRestart(name=name, generation=generation, reason=reason):
                child = self._children.get(name)
                if child is not None and child.generation == generation and child.ref is None:
                    self._restart(child, reason)
            case WhichChildren():
                return [
                    ChildInfo(
                        c.spec.name,
                        c.spec.restart,
                        c.restarts,
                        c.generation,
                        c.ref is not None and c.ref.is_alive(),
                    )
                    for c in self._children.values()
                ]
            case StartChild(spec=spec):
                self._check_escalation()
                return self._start_new(spec)
            case TerminateChild(name=name):
                self._check_escalation()
                child = self._children.pop(name, None)
                if child is not None:
                    self._forget_generation(name)
                    self._stop_child(child)
            case GetChild(name=name):
                self._check_escalation()
                child = self._children.get(name)
                return None if child is None else child.ref
            case _:
                return self.on_other_message(message)
        return None

    def on_other_message(self, message: Any) -> Any:
        """Handle a message that is not the supervisor's own. The default raises :class:`TypeError`.

        After escalation this is still called: a subclass decides what its own messages do then.
        """
        raise TypeError(f"{self.name}: unexpected message {message!r}")

    def on_child_down(self, name: str, reason: BaseException | None) -> None:
        """Hook: a child that was up exited (``None``: a normal stop); called before any restart.

        Not called for a failed restart attempt (a starting incarnation that exits): the child was down already.
        """

    def on_child_restarted(self, name: str, ref: pykka.ActorRef[Any]) -> None:
        """Hook: a child was restarted and is up (acknowledged, if its spec says so); ``ref``: the incarnation."""

    def acknowledge(self, name: str, generation: int) -> None:
        """The restarted incarnation ``generation`` of ``name`` is up (what :class:`ChildReady` does).

        For subclasses, on the supervisor's thread; a stale or repeated acknowledgement is ignored.
        """
        child = self._children.get(name)
        if child is None or child.generation != generation or child.ready or child.ref is None:
            return
        child.ready = True
        child.failures = 0
        self._restarted(child)

    def escalation_error(self, gave_up: SupervisorGaveUp) -> BaseException:
        """Hook: the error the supervisor's asks raise once it gave up (default: ``gave_up`` itself).

        Called before the children are stopped, so what they fail on their way out can already see it.
        """
        return gave_up

    def on_escalate(self, error: BaseException) -> None:
        """Hook: the supervisor gave up (restart intensity exceeded) and stopped all children."""

    def _start_new(self, spec: ChildSpec) -> pykka.ActorRef[Any]:
        if spec.name in self._children:
            raise ValueError(f"{self.name}: a child named {spec.name!r} already exists")
        generation = self._next_generation(spec.name)
        ref = spec.start(ChildContext(self.actor_ref, spec.name, generation))
        self._children[spec.name] = _Child(spec, ref, generation)
        return ref

    def _next_generation(self, name: str) -> int:
        last = self._generations.get(name)
        generation = self._generation_floor if last is None else last + 1
        self._generations[name] = generation
        return generation

    def _forget_generation(self, name: str) -> None:
        """Forget a name that has no child any more (so a long-lived supervisor of many names stays bounded).

        A child of that name started later gets a generation above every one given so far, so a late report
        of an old incarnation can never be taken for it.
        """
        last = self._generations.pop(name, None)
        if last is not None:
            self._generation_floor = max(self._generation_floor, last + 1)

    def _child_exited(self, message: ChildExited) -> None:
        child = self._children.get(message.name)
        if child is None or child.generation != message.generation:
            logger.debug("%s: ignoring stale report %r", self.name, message)
            return
        child.ref = None
        reason = describe(message.reason)
        extra = self._extra(message.name, reason, generation=message.generation)
        if not child.ready:  # an acknowledged restart that never came up: a failed attempt
            error = message.reason if message.reason is not None else RuntimeError(f"{self.name}: never came up")
            child.ready = True
            self._attempt_failed(child, error)
            self._restart(child, error)
            return
        if message.reason is None:  # a normal stop is not news (thread actors stop when idle, by the thousand)
            logger.debug("%s: child %r stopped", self.name, message.name, extra=extra)
        else:
            logger.warning("%s: child %r crashed: %s", self.name, message.name, reason, extra=extra)
        self._hook(self.on_child_down, message.name, message.reason)
        policy = child.spec.restart
        if policy is RestartPolicy.temporary or (policy is RestartPolicy.transient and message.reason is None):
            del self._children[message.name]
            self._forget_generation(message.name)
            if message.reason is not None:
                logger.info("%s: child %r not restarted (%s)", self.name, message.name, policy, extra=extra)
            return
        self._restart(child, message.reason)

    def _restart(self, child: _Child, reason: BaseException | None) -> None:
        name = child.spec.name
        now = time.monotonic()
        while self._restart_times and self._restart_times[0] <= now - self.max_seconds:
            self._restart_times.popleft()
        if len(self._restart_times) >= self.max_restarts:
            self._escalate(name, reason, len(self._restart_times) + 1)
            return
        if child.failures >= self.max_restarts:
            self._escalate(name, reason, child.failures + 1, in_a_row=True)
            return
        self._restart_times.append(now)
        child.restarts += 1
        child.generation = self._next_generation(name)
        try:
            ref = child.spec.start(ChildContext(self.actor_ref, name, child.generation))
        except Exception as exc:
            self._attempt_failed(child, exc)
            self.actor_ref.tell(_RetryRestart(name, child.generation, exc))
            return
        child.ref = ref
        child.ready = not child.spec.acknowledged
        if child.ready:
            child.failures = 0
            self._restarted(child, reason)

    def _attempt_failed(self, child: _Child, error: BaseException) -> None:
        child.failures += 1
        name = child.spec.name
        failed = describe(error)
        logger.warning(
            "%s: restart %d of child %r failed: %s",
            self.name,
            child.restarts,
            name,
            failed,
            extra=self._extra(name, failed, generation=child.generation, attempt=child.restarts),
        )

    def _restarted(self, child: _Child, reason: BaseException | None = None) -> None:
        name = child.spec.name
        ref = child.ref
        assert ref is not None
        logger.info(
            "%s: restarted child %r (restart %d, generation %d)%s",
            self.name,
            name,
            child.restarts,
            child.generation,
            " (acknowledged)" if child.spec.acknowledged else f" after: {describe(reason)}",
            extra=self._extra(name, describe(reason), generation=child.generation, attempt=child.restarts),
        )
        self._hook(self.on_child_restarted, name, ref)

    def _escalate(self, name: str, reason: BaseException | None, needed: int, *, in_a_row: bool = False) -> None:
        gave_up = SupervisorGaveUp(
            self.name,
            name,
            needed,
            max_restarts=self.max_restarts,
            max_seconds=self.max_seconds,
            reason=reason,
            in_a_row=in_a_row,
        )
        try:
            error = self.escalation_error(gave_up)
        except Exception:
            logger.exception("%s: hook escalation_error raised", self.name)
            error = gave_up
        logger.error(
            "%s",
            error,
            extra=self._extra(name, describe(reason), attempt=needed),
        )
        self.escalation = error
        self._stop_children()
        self._hook(self.on_escalate, error)

    def _extra(
        self, child: str, reason: str, *, generation: int | None = None, attempt: int | None = None
    ) -> dict[str, Any]:
        return {
            "supervisor": self.name,
            "child": child,
            "reason": reason,
            "generation": generation,
            "attempt": attempt,
        }

    def _check_escalation(self) -> None:
        error = self.escalation
        if error is not None:
            # A fresh instance per ask where it can be made: one exception object raised in many threads
            # would share a traceback.
            copy = fresh(error)
            if copy is error:
                raise error
            raise copy from error

    def _stop_children(self) -> None:
        children = list(self._children.values())
        self._children.clear()  # forgotten first: their exit reports are now stale
        for child in reversed(children):
            self._stop_child(child)

    def _stop_child(self, child: _Child) -> None:
        if child.ref is None:
            return
        try:
            child.ref.stop(timeout=child.spec.stop_timeout)
        except pykka.Timeout:
            logger.warning(
                "%s: child %r did not stop within %g s; left running",
                self.name,
                child.spec.name,
                child.spec.stop_timeout,
            )

    def _hook(self, hook: Callable[..., None], *args: Any) -> None:
        try:
            hook(*args)
        except Exception:
            logger.exception("%s: hook %s raised", self.name, hook.__name__)
